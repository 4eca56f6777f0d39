from django.urls import path

from needlechart.documents import views

app_name = "documents"
urlpatterns = [
    path("patients/<int:patient_id>/documents/new/", views.issue, name="issue"),
    path("documents/<int:document_id>/download/", views.download, name="download"),
    path("documents/<int:document_id>/send/", views.send, name="send"),
]
