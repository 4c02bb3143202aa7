from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AcknowledgeForm(forms.Form):
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Optional: what you are doing about it, for your colleagues."),
    )


def tomorrow_at_nine(now):
    """09:00 tomorrow in the portal's time zone."""
    local = timezone.localtime(now)
    day = local.date() + timedelta(days=1)
    return timezone.make_aware(datetime.combine(day, time(9, 0)))


SNOOZE_DURATIONS = {
    "1h": lambda now: now + timedelta(hours=1),
    "4h": lambda now: now + timedelta(hours=4),
    "1d": lambda now: now + timedelta(days=1),
    "tomorrow": tomorrow_at_nine,
}


class SnoozeForm(forms.Form):
    duration = forms.ChoiceField(
        label=_("Snooze for"),
        choices=[
            ("1h", _("1 hour")),
            ("4h", _("4 hours")),
            ("1d", _("1 day")),
            ("tomorrow", _("Until tomorrow 09:00")),
        ],
    )

    def until(self, now=None):
        return SNOOZE_DURATIONS[self.cleaned_data["duration"]](now or timezone.now())
