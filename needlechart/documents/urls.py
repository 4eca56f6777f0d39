from django.urls import path

from needlechart.documents import views

app_name = "documents"
urlpatterns = [
    path("patients/<int:patient_id>/documents/new/", views.issue, name="issue"),
    path("documents/<int:document_id>/download/", views.download, name="download"),
    path("documents/<int:document_id>/send/", views.send, name="send"),
    path("episodes/<int:episode_id>/letters/new/", views.letter_new, name="letter_new"),
    path("letters/<int:letter_id>/", views.letter, name="letter"),
    path("letters/<int:letter_id>/issue/", views.letter_issue, name="letter_issue"),
    path("letters/<int:letter_id>/addenda/new/", views.letter_addendum, name="letter_addendum"),
    path("letters/<int:letter_id>/reissue/", views.letter_reissue, name="letter_reissue"),
    path("clinic/letters/<str:kind>/", views.wording, name="wording"),
]
