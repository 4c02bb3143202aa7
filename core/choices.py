"""Labels for the values Microsoft sends in a vocabulary of ours (``TextChoices``)."""


def label_for(choices, value):
    """The label of a known value, or the value itself: a value Microsoft adds later is shown as
    sent, never dropped."""
    try:
        return choices(value).label
    except ValueError:
        return value
