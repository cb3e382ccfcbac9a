//! Guards shared by the page handlers.

/// Unwrap the caller or send them to log in.
macro_rules! who_or_login {
    ($app:expr, $req:expr) => {
        match current(&$app, $req) {
            Some(id) => id,
            None => return to_login($req),
        }
    };
}

macro_rules! check_csrf {
    ($who:expr, $req:expr, $form:expr) => {
        if !csrf_ok(&$who, $req, $form.get("csrf_token").map(String::as_str)) {
            return csrf_failed(&$who);
        }
    };
}
