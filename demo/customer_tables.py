"""The tables the demo customers are drawn from: companies of a Turkish/European CSP partner,
people's names and phone numbers by country, notes, and the licences companies of each size buy.
``demo.customers`` picks from them with a fixed seed."""

from customers.choices import ServiceFamilyChoices

# (company name, country, default domain, other domains, tags, size). Size is smb, mid or ent.
COMPANIES = [
    # Türkiye
    (
        "Contoso Lojistik A.Ş.",
        "TR",
        "contoso-lojistik.com.tr",
        ["contosolojistik.onmicrosoft.com"],
        "logistics 24x7",
        "mid",
    ),
    ("Anadolu Tekstil Sanayi A.Ş.", "TR", "anadolutekstil.com.tr", [], "manufacturing", "mid"),
    (
        "Boğaziçi Sağlık Grubu",
        "TR",
        "bogazicisaglik.com.tr",
        ["bogazicihastanesi.com", "bogazicisaglik.onmicrosoft.com"],
        "healthcare vip 24x7",
        "ent",
    ),
    ("Ege Zeytinyağı Kooperatifi", "TR", "egezeytin.onmicrosoft.com", [], "agriculture", "smb"),
    ("Kapadokya Turizm Ltd. Şti.", "TR", "kapadokyaturizm.com", [], "hospitality", "smb"),
    (
        "Marmara Finans Yatırım A.Ş.",
        "TR",
        "marmarafinans.com.tr",
        ["marmarayatirim.com"],
        "finance vip",
        "mid",
    ),
    ("Karadeniz Enerji A.Ş.", "TR", "karadenizenerji.com.tr", [], "energy 24x7", "ent"),
    ("Toros Koleji", "TR", "toroskoleji.k12.tr", [], "education", "mid"),
    ("Demir & Ortakları Hukuk Bürosu", "TR", "demirhukuk.av.tr", [], "legal", "smb"),
    ("Fabrikam Gıda San. ve Tic. A.Ş.", "TR", "fabrikamgida.com.tr", [], "retail", "mid"),
    ("Akdeniz Belediyeler Birliği", "TR", "akdenizbb.bel.tr", [], "public-sector", "mid"),
    (
        "Trakya Otomotiv Yan Sanayi A.Ş.",
        "TR",
        "trakyaotomotiv.com.tr",
        ["trakya-automotive.com"],
        "manufacturing 24x7",
        "ent",
    ),
    (
        "Pamukkale Yazılım Teknolojileri",
        "TR",
        "pamukkaleyazilim.onmicrosoft.com",
        [],
        "technology",
        "smb",
    ),
    (
        "Northwind Perakende A.Ş.",
        "TR",
        "northwindperakende.com.tr",
        ["northwind.com.tr", "northwindmagaza.com"],
        "retail vip",
        "ent",
    ),
    ("Galata Mimarlık Ofisi", "TR", "galatamimarlik.com", [], "construction", "smb"),
    ("Ankara Tıp Laboratuvarları", "TR", "ankaratiplab.com.tr", [], "healthcare", "mid"),
    ("Uludağ Sigorta A.Ş.", "TR", "uludagsigorta.com.tr", [], "finance 24x7", "ent"),
    ("Mavi Deniz Denizcilik", "TR", "mavidenizcilik.com.tr", [], "logistics", "mid"),
    ("Tailspin Oyuncak Ltd. Şti.", "TR", "tailspinoyuncak.onmicrosoft.com", [], "retail", "smb"),
    ("Anadolu Bilim Vakfı", "TR", "anadolubilim.org.tr", [], "education non-profit", "smb"),
    # Germany, Austria, Switzerland
    (
        "Fabrikam Maschinenbau GmbH",
        "DE",
        "fabrikam-maschinenbau.de",
        ["fabrikam-mb.com"],
        "manufacturing 24x7",
        "ent",
    ),
    ("Woodgrove Privatbank AG", "DE", "woodgrove-privatbank.de", [], "finance vip", "mid"),
    ("Nordlicht Pflegedienste gGmbH", "DE", "nordlicht-pflege.de", [], "healthcare", "smb"),
    ("Alpenblick Hotels GmbH", "DE", "alpenblick-hotels.de", [], "hospitality", "mid"),
    (
        "Stadtwerke Lindenau GmbH",
        "DE",
        "stadtwerke-lindenau.de",
        [],
        "energy public-sector 24x7",
        "mid",
    ),
    ("Kaya & Schmidt Steuerberatung", "DE", "kaya-schmidt.de", [], "finance", "smb"),
    ("Litware Software GmbH", "DE", "litware.onmicrosoft.com", ["litware.de"], "technology", "mid"),
    ("Rheinland Logistik KG", "DE", "rheinland-logistik.de", [], "logistics", "mid"),
    ("Bildungswerk Westfalen e.V.", "DE", "bildungswerk-westfalen.de", [], "education", "smb"),
    ("Öztürk Backwaren GmbH", "DE", "oeztuerk-backwaren.de", [], "retail", "smb"),
    ("Donau Bau GmbH", "AT", "donaubau.at", [], "construction", "mid"),
    ("Bergkristall Treuhand AG", "CH", "bergkristall-treuhand.ch", [], "finance vip", "smb"),
    # United Kingdom and Ireland
    (
        "Northwind Traders Ltd",
        "GB",
        "northwindtraders.onmicrosoft.com",
        ["northwindtraders.co.uk"],
        "retail vip",
        "ent",
    ),
    ("Tailspin Toys UK Ltd", "GB", "tailspintoys.co.uk", [], "retail", "smb"),
    (
        "Humongous Insurance plc",
        "GB",
        "humongousinsurance.co.uk",
        ["humongousinsurance.com", "humongous-claims.co.uk"],
        "finance vip 24x7",
        "ent",
    ),
    (
        "Lamna Healthcare Trust",
        "GB",
        "lamnahealthcare.org.uk",
        [],
        "healthcare public-sector 24x7",
        "ent",
    ),
    ("Trey Research Ltd", "GB", "treyresearch.co.uk", [], "technology", "smb"),
    ("Bellows College", "GB", "bellowscollege.ac.uk", [], "education", "mid"),
    ("Margie's Travel Ltd", "GB", "margiestravel.co.uk", [], "hospitality", "smb"),
    ("Consolidated Messenger Ltd", "GB", "consolidatedmessenger.co.uk", [], "logistics", "mid"),
    ("Graphic Design Institute", "IE", "graphicdesigninstitute.ie", [], "education", "smb"),
    # Benelux
    ("Wingtip Toys B.V.", "NL", "wingtiptoys.nl", [], "retail", "smb"),
    ("Relecloud B.V.", "NL", "relecloud.nl", ["relecloud.eu"], "technology 24x7", "mid"),
    ("Zuiderzee Zorggroep", "NL", "zuiderzeezorg.nl", [], "healthcare", "mid"),
    ("Van Arsdel Logistiek B.V.", "NL", "vanarsdel-logistiek.nl", [], "logistics", "mid"),
    ("Waterschap Lage Landen", "NL", "waterschaplagelanden.nl", [], "public-sector", "mid"),
    ("Proseware Financial Services B.V.", "NL", "proseware.nl", [], "finance", "smb"),
    ("Brabant Medical NV", "BE", "brabantmedical.be", [], "healthcare", "mid"),
    # France
    ("Domaine Coho SAS", "FR", "domaine-coho.fr", [], "agriculture hospitality", "smb"),
    ("Éditions Lucerne SA", "FR", "editions-lucerne.fr", [], "media", "mid"),
    ("Clinique Saint-Aubin", "FR", "clinique-saint-aubin.fr", [], "healthcare 24x7", "mid"),
    ("Fourth Coffee France SAS", "FR", "fourthcoffee.fr", [], "retail hospitality", "smb"),
    ("Institut Graphique de Lyon", "FR", "institut-graphique-lyon.fr", [], "education", "smb"),
    # United States
    (
        "Contoso Pharmaceuticals Inc.",
        "US",
        "contosopharma.onmicrosoft.com",
        ["contosopharma.com"],
        "healthcare vip 24x7",
        "ent",
    ),
    ("Adventure Works Cycles", "US", "adventure-works.com", [], "manufacturing retail", "ent"),
    ("Alpine Ski House LLC", "US", "alpineskihouse.com", [], "hospitality", "smb"),
    (
        "Blue Yonder Airlines",
        "US",
        "blueyonderairlines.com",
        ["blueyonder.aero"],
        "logistics vip 24x7",
        "ent",
    ),
    # Elsewhere
    ("Costa Brava Hoteles S.L.", "ES", "costabravahoteles.es", [], "hospitality", "mid"),
    ("Officine Meccaniche Adatum S.p.A.", "IT", "adatum-meccanica.it", [], "manufacturing", "mid"),
    ("Wisła Software Sp. z o.o.", "PL", "wislasoftware.pl", [], "technology", "smb"),
    ("Fjällvind Energi AB", "SE", "fjallvind.se", [], "energy", "mid"),
    ("Caspian Trade Solutions LLC", "AZ", "caspiantrade.az", [], "logistics", "smb"),
    ("Kyrenia Shipping Ltd", "CY", "kyreniashipping.com.cy", [], "logistics finance", "smb"),
]

NAMES = {
    "TR": (
        "Ahmet Ayşe Mehmet Elif Mustafa Zeynep Emre Selin Burak Deniz Can Ebru Oğuz Gizem "
        "Serkan İrem Tolga Çağla Murat Şule",
        "Yılmaz Kaya Demir Şahin Çelik Yıldız Yıldırım Öztürk Aydın Özdemir Arslan Doğan "
        "Kılıç Aslan Çetin Kara Koç Kurt Özkan Şimşek",
    ),
    "DE": (
        "Lukas Anna Jonas Lena Felix Sophie Maximilian Laura Tobias Julia Stefan Katrin",
        "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Hoffmann Schäfer Koch Richter",
    ),
    "GB": (
        "Oliver Amelia George Isla Harry Emily Jack Sophie James Charlotte",
        "Smith Jones Taylor Brown Williams Wilson Evans Thomas Roberts Walker",
    ),
    "IE": (
        "Seán Aoife Conor Niamh Ciarán Siobhán",
        "Murphy Kelly O'Brien Byrne Ryan Walsh",
    ),
    "NL": (
        "Daan Emma Sem Julia Lucas Tess Bram Sanne Thijs Lotte",
        "de Jong|Jansen|de Vries|van den Berg|Bakker|Visser|Smit|Meijer|Mulder|de Boer",
    ),
    "BE": (
        "Wout Lien Arne Fien Jens Nele",
        "Peeters|Janssens|Maes|Jacobs|Willems|De Smet",
    ),
    "FR": (
        "Lucas Léa Hugo Chloé Louis Manon Gabriel Camille Arthur Inès",
        "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau",
    ),
    "US": (
        "Michael Jennifer David Jessica Chris Ashley Daniel Sarah Matthew Emily",
        "Johnson Williams Garcia Miller Davis Rodriguez Martinez Anderson Taylor Lee",
    ),
    "ES": (
        "Javier Lucía Carlos María Pablo Elena",
        "García Fernández López Martínez Sánchez Pérez",
    ),
    "IT": (
        "Marco Giulia Luca Francesca Matteo Chiara",
        "Rossi Russo Ferrari Esposito Bianchi Romano",
    ),
    "PL": (
        "Piotr Anna Tomasz Katarzyna Michał Magdalena",
        "Nowak Wójcik Kaczmarek Mazur Zając Król",
    ),
    "SE": (
        "Erik Anna Lars Karin Johan Sara",
        "Andersson Johansson Karlsson Nilsson Eriksson Larsson",
    ),
    "AZ": (
        "Elvin Aysel Rashad Leyla Orkhan Nigar",
        "Mammadli Huseynli Aliyev Guliyev Hasanli Ismayilli",
    ),
    "CY": (
        "Andreas Maria Christos Eleni Nikos Sofia",
        "Georgiou Ioannou Christodoulou Charalambous Constantinou Demetriou",
    ),
}
NAMES["AT"] = NAMES["CH"] = NAMES["DE"]

# "#" is a random digit. UK and US numbers are in the ranges reserved for fiction.
PHONES = {
    "TR": ["+90 212 ### ## ##", "+90 216 ### ## ##", "+90 312 ### ## ##", "+90 53# ### ## ##"],
    "DE": ["+49 30 #######", "+49 40 #######", "+49 89 #######", "+49 221 #######"],
    "AT": ["+43 1 #######"],
    "CH": ["+41 44 ### ## ##"],
    "GB": ["+44 20 7946 0###", "+44 161 496 0###"],
    "IE": ["+353 1 ### ####"],
    "NL": ["+31 20 ### ####", "+31 10 ### ####"],
    "BE": ["+32 2 ### ## ##"],
    "FR": ["+33 1 ## ## ## ##", "+33 4 ## ## ## ##"],
    "US": ["+1 425 555 01##", "+1 206 555 01##"],
    "ES": ["+34 93 ### ## ##"],
    "IT": ["+39 02 #### ####"],
    "PL": ["+48 22 ### ## ##"],
    "SE": ["+46 8 ### ## ##"],
    "AZ": ["+994 12 ### ## ##"],
    "CY": ["+357 22 ######"],
}

NOTES = [
    "Prefers support in Turkish; escalations through the account manager.",
    "Change freeze during month-end close (last three working days).",
    "On-site IT team of two; call the technical contact before any tenant change.",
    "Uses a distributor for billing; licence changes need their PO number.",
    "Conditional Access is strict: agents sign in from the partner's named locations only.",
    "Renewal of the delegated-admin relationship is handled by the customer's CISO.",
    "Migrating from an on-premises Exchange 2016 server; hybrid until next quarter.",
]

M365 = ServiceFamilyChoices.MICROSOFT_365
# Main licence by company size: (offer, family, share of the seats).
CORE_OFFERS = {
    "smb": [
        ("Microsoft 365 Business Premium", M365),
        ("Microsoft 365 Business Standard", M365),
        ("Microsoft 365 Business Basic", M365),
    ],
    "mid": [
        ("Microsoft 365 E3", M365),
        ("Microsoft 365 Business Premium", M365),
        ("Office 365 E3", M365),
    ],
    "ent": [("Microsoft 365 E3", M365), ("Microsoft 365 E5", M365)],
}
# Add-ons: (offer, family, low and high share of the seats; None for one unit).
ADDON_OFFERS = [
    ("Exchange Online (Plan 1)", M365, 0.05, 0.3),
    ("Microsoft 365 Business Basic", M365, 0.05, 0.2),
    ("Azure plan", ServiceFamilyChoices.AZURE, None, None),
    ("Dynamics 365 Sales Enterprise", ServiceFamilyChoices.DYNAMICS_365, 0.02, 0.15),
    ("Dynamics 365 Business Central Essentials", ServiceFamilyChoices.DYNAMICS_365, 0.02, 0.1),
    ("Power BI Pro", ServiceFamilyChoices.POWER_PLATFORM, 0.05, 0.4),
    ("Power Apps per user", ServiceFamilyChoices.POWER_PLATFORM, 0.02, 0.1),
    ("Windows 11 Enterprise E3", ServiceFamilyChoices.WINDOWS, 0.3, 0.9),
    ("Microsoft Teams Rooms Pro", ServiceFamilyChoices.OTHER, None, None),
    ("Visio Plan 2", ServiceFamilyChoices.OTHER, 0.01, 0.05),
    ("Project Plan 3", ServiceFamilyChoices.OTHER, 0.01, 0.05),
]
SEATS = {"smb": (5, 60), "mid": (60, 450), "ent": (500, 4000)}
