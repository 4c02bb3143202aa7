"""What the portal sends out, with no Django in it: the outbound URL guard, the one HTTP
transport, the one signing scheme and the Microsoft Graph client. Everything above passes in its
settings; nothing here reads them."""
