# The portal's image: gunicorn for web, the same image for Celery workers and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/var/lib/portal

RUN useradd --system --create-home --home-dir /app portal
WORKDIR /app

COPY pyproject.toml constraints.txt README.md ./
RUN pip install -c constraints.txt .

COPY --chown=portal:portal . .
RUN install -d -o portal -g portal "$VAR_DIR" \
    && DJANGO_ENV=production SECRET_KEY=collectstatic-only ALLOWED_HOSTS=localhost \
       FIELD_ENCRYPTION_KEYS=ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg= \
       python manage.py collectstatic --noinput \
    && chown -R portal:portal "$VAR_DIR"

USER portal
EXPOSE 8000
CMD ["gunicorn", "partnerportal.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "30", "--access-logfile", "-"]
