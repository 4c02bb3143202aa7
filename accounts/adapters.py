from allauth.account.adapter import DefaultAccountAdapter


class StaffAccountAdapter(DefaultAccountAdapter):
    """Staff are invited by an administrator; nobody signs themselves up."""

    def is_open_for_signup(self, request):
        return False
