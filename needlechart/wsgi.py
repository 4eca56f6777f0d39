import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "needlechart.settings")
application = get_wsgi_application()
# Refuse to start serving without a secret key rather than fail on the first sign-in.
_ = settings.SECRET_KEY
