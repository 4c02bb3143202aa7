"""What the apps' forms share."""


def apply_errors(form, exc):
    """A service's ``ValidationError`` on the form: errors on fields the form shows go next to
    them, any other at the top."""
    for field, errors in exc.update_error_dict({}).items():
        form.add_error(field if field in form.fields else None, errors)
