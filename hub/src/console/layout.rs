//! The page around each console page: the title, the navigation the staff member's role may use,
//! the language switch and sign-out; and a bare page for sign-in and errors.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::auth::Staff;
use super::roles::Can;
use super::text::{Lang, T};

/// The console's one style sheet, inline (the pages need nothing else): readable on a laptop
/// and a tablet, with Japanese fonts first.
const STYLE: &str = "
body{font-family:'Hiragino Sans','Noto Sans CJK JP','IPAGothic','IPAPGothic',sans-serif;
 margin:0;color:#1d2330;background:#f6f7f9;font-size:15px;line-height:1.5}
header{background:#1d3a5f;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.25rem 1rem;
 align-items:center}
header a{color:#fff;text-decoration:none;padding:.25rem .4rem;border-radius:4px}
header a:hover,header a.here{background:#2f5687}
header .who{margin-left:auto;font-size:.9rem}
header form{display:inline;margin:0}
header button{background:none;border:1px solid #fff;color:#fff;border-radius:4px;cursor:pointer}
main{max-width:1100px;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.5rem 0 1rem}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.75rem 1rem;margin:0 0 1rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #e4e7ec;padding:.3rem .4rem;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.detail{overflow-wrap:anywhere;font-size:.8rem;max-width:28rem}
.preview-message{border-left:4px solid #06c755;padding:.25rem .75rem;margin:.5rem 0}
.said{white-space:pre-wrap;margin:.25rem 0}
.notice{background:#e7f5ea;border:1px solid #9fd3ab;padding:.5rem .75rem;border-radius:6px}
.problem{background:#fdecea;border:1px solid #f0a8a0;padding:.5rem .75rem;border-radius:6px}
.warn{background:#fff4d6}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:1rem}
label{display:block;margin:.3rem 0 .1rem;font-size:.9rem}
input,select,textarea{font:inherit;padding:.3rem;border:1px solid #b8c0cc;border-radius:4px;
 max-width:100%;box-sizing:border-box}
textarea{width:100%;font-family:monospace}
button.go{background:#1d3a5f;color:#fff;border:0;border-radius:4px;padding:.4rem .9rem;
 margin-top:.4rem;cursor:pointer}
pre{background:#f1f3f6;padding:.5rem;overflow-x:auto;font-size:.85rem}
.del{background:#fde8e8}.add{background:#e6f6e9}
.muted{color:#5b6575;font-size:.85rem}
svg{max-width:100%;height:auto}
";

fn head(lang: Lang, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " — " (lang.t(T::AppTitle)) }
            style { (PreEscaped(STYLE)) }
        }
    }
}

/// A page for a signed-in staff member. `here` is the navigation entry it belongs to.
pub fn page(lang: Lang, staff: &Staff, here: T, title: &str, body: Markup) -> Markup {
    let nav: [(T, &str, Can); 8] = [
        (T::NavHome, "/console", Can::ReadOperations),
        (T::NavMembers, "/console/members", Can::ReadMembers),
        (T::NavTerminals, "/console/terminals", Can::ReadOperations),
        (T::NavReview, "/console/review", Can::ReadOperations),
        (T::NavProgram, "/console/program", Can::ReadOperations),
        (T::NavMessaging, "/console/messaging", Can::ReadOperations),
        (T::NavReports, "/console/reports", Can::ReadOperations),
        (T::NavAudit, "/console/audit", Can::ReadOperations),
    ];
    html! {
        (DOCTYPE)
        html lang=(lang.as_str()) {
            (head(lang, title))
            body {
                header {
                    strong { (lang.t(T::AppTitle)) }
                    nav {
                        @for (key, href, need) in nav {
                            @if staff.can(need) {
                                a href=(href) class=[(key == here).then_some("here")] { (lang.t(key)) }
                            }
                        }
                    }
                    span.who {
                        (lang.t(T::SignedInAs)) " " strong #staff-name { (staff.name) }
                        " (" (staff.role.as_str()) ") "
                        a #lang-switch href={ "?lang=" (lang.other().as_str()) } { (lang.other().own_name()) }
                        " "
                        form method="post" action="/console/sign-out" {
                            input type="hidden" name="csrf" value=(staff.csrf);
                            button #sign-out type="submit" { (lang.t(T::SignOut)) }
                        }
                    }
                }
                main {
                    h1 #title { (title) }
                    (body)
                }
            }
        }
    }
}

/// A page without the navigation: sign-in, and errors.
pub fn bare(lang: Lang, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.as_str()) {
            (head(lang, title))
            body {
                header {
                    strong { (lang.t(T::AppTitle)) }
                    span.who {
                        a #lang-switch href={ "?lang=" (lang.other().as_str()) } { (lang.other().own_name()) }
                    }
                }
                main {
                    h1 #title { (title) }
                    (body)
                    p { a href="/console" { (lang.t(T::BackHome)) } }
                }
            }
        }
    }
}

/// A hidden field with the session's CSRF token: every form of a signed-in page has one.
pub fn csrf(staff: &Staff) -> Markup {
    html! { input type="hidden" name="csrf" value=(staff.csrf); }
}

/// A notice or a problem above a page's content (`done`: what was done; `problem`: why not).
pub fn message(done: Option<&str>, problem: Option<&str>) -> Markup {
    html! {
        @if let Some(d) = done { p.notice #notice { (d) } }
        @if let Some(p) = problem { p.problem #problem { (p) } }
    }
}
