from django.urls import path

from needlechart.reference import views

app_name = "reference"
urlpatterns = [
    path("reference/body-chart/", views.body_chart, name="body_chart"),
    path("reference/referral.json", views.referral_json, name="referral_json"),
    path("reference/muscles/", views.muscle_list, name="muscles"),
    path("reference/muscles/<slug:slug>/", views.muscle_detail, name="muscle"),
]
