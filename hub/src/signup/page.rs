//! The LIFF page (`GET /liff/signup`, the LIFF app's endpoint URL). LINE opens it two ways:
//! - from the kiosk's QR code (`?t=` the signup token): it sends the token and LINE's ID token
//!   to `POST /v1/signups/{token}/complete`, then shows the member card;
//! - from the official account's menu ("Member card", `https://liff.line.me/{liffId}`): the
//!   member card at once.
//!
//! The card (`POST /v1/cards/me`, see [`super::card`]) is the rotating QR and the member
//! barcode, the points and when they lapse, the tier and how far the next one is, the stamp card
//! and the coupons; asked for again every minute. Below it, the member's favourites
//! ([`super::favourites`]): a catalogue search whose items a heart wishes for, and the list of
//! wishes with their kinds, each removable; the catalogue's text reaches the page only as text
//! nodes (`textContent`), never as HTML. The profile form and "unlink LINE" are one tap
//! away ([`super::profile`]). An ID token about to lapse is replaced through LIFF's login before
//! it is sent (LINE's last an hour; LIFF pages stay open for hours). Japanese first, English
//! below; nothing personal is asked for at signup (docs/design.md §5).

/// LINE's LIFF SDK, as LINE documents it.
pub const LIFF_SDK: &str = "https://static.line-scdn.net/liff/edge/2/sdk.js";

fn escape_js(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

/// The page's HTML for a LIFF app id (`None`: signup is not configured at this hub), loading the
/// LIFF SDK from `sdk_url` (LINE's, [`LIFF_SDK`], unless a test or demo serves a stand-in).
pub fn html(liff_id: Option<&str>, sdk_url: &str) -> String {
    let liff_id = liff_id.map(escape_js).unwrap_or_default();
    let sdk_url: String = sdk_url
        .chars()
        .filter(|c| !matches!(c, '"' | '<' | '>' | '\'' | '\\') && !c.is_whitespace())
        .collect();
    TEMPLATE
        .replace("{{LIFF_SDK}}", &sdk_url)
        .replace("{{LIFF_ID}}", &liff_id)
}

/// The page: HTML, CSS and script in one file (no build step), filled in by [`html`].
const TEMPLATE: &str = include_str!("page.html");

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_page_loads_the_liff_sdk_with_our_app() {
        let page = html(Some("1234567890-AbCdEfGh"), LIFF_SDK);
        assert!(page.contains(r#"<script charset="utf-8" src="https://static.line-scdn.net/liff/edge/2/sdk.js"></script>"#));
        assert!(page.contains(r#"const LIFF_ID = "1234567890-AbCdEfGh";"#));
        assert!(page.contains("/complete"));
        assert!(page.contains("/v1/cards/me"));
        assert!(page.contains("/v1/cards/me/catalog/search"));
        assert!(page.contains("/v1/cards/me/wishes/add"));
        // Nothing outside the id's alphabet reaches the script.
        assert!(html(Some("x\";alert(1)//"), LIFF_SDK).contains(r#"const LIFF_ID = "xalert1";"#));
        assert!(html(None, "http://x/a.js\"><script>").contains(r#"src="http://x/a.jsscript""#));
    }

    #[test]
    fn the_catalogues_text_never_reaches_the_page_as_html() {
        // Item names are the retailer's text: the favourites' script builds nodes with
        // textContent only.
        let start = TEMPLATE.find("// Favourites:").unwrap();
        let end = start + TEMPLATE[start..].find("// The member card:").unwrap();
        let script = &TEMPLATE[start..end];
        assert!(script.contains("textContent"));
        for banned in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
        ] {
            assert!(
                !script.contains(banned),
                "the favourites' script uses {banned}"
            );
        }
    }
}
