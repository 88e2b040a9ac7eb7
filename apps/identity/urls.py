from django.urls import path

from apps.identity import views, views_account, views_password

app_name = "identity"

urlpatterns = [
    path("", views_account.account, name="account"),
    path("login/", views.login, name="login"),
    path("login/verify/", views.login_mfa, name="login_mfa"),
    path("logout/", views.logout, name="logout"),
    path("mfa/setup/", views_account.mfa_setup, name="mfa_setup"),
    path("mfa/backup-codes/", views_account.mfa_backup_codes, name="mfa_backup_codes"),
    path(
        "sessions/sign-out-everywhere/",
        views_account.sign_out_everywhere,
        name="sign_out_everywhere",
    ),
    path("language/", views_account.set_language, name="set_language"),
    path("password/", views_account.password_change, name="password_change"),
    path("password/reset/", views_password.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password/reset/sent/",
        views_password.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/reset/<uidb64>/<token>/",
        views_password.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/reset/done/",
        views_password.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
]
