//! The LIFF page (`GET /liff/signup`): LINE opens it when a customer scans the kiosk's QR code.
//! It starts LINE's LIFF SDK, takes the signup token from the URL (`?t=`) and LINE's ID token,
//! sends both to `POST /v1/signups/{token}/complete`, and shows the member number or what to do.
//! Japanese first, English below; no personal data is asked for here (DESIGN §5).

/// LINE's LIFF SDK, as LINE documents it.
pub const LIFF_SDK: &str = "https://static.line-scdn.net/liff/edge/2/sdk.js";

fn escape_js(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

/// The page's HTML for a LIFF app id (`None`: signup is not configured at this hub).
pub fn html(liff_id: Option<&str>) -> String {
    let liff_id = liff_id.map(escape_js).unwrap_or_default();
    TEMPLATE
        .replace("{{LIFF_SDK}}", LIFF_SDK)
        .replace("{{LIFF_ID}}", &liff_id)
}

const TEMPLATE: &str = r#"<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>会員登録 / Join</title>
<style>
  body { font-family: sans-serif; margin: 0; padding: 24px; text-align: center; color: #222; }
  h1 { font-size: 1.4em; }
  .number { font-size: 2em; letter-spacing: 0.08em; font-weight: bold; margin: 16px 0; }
  .en { color: #666; font-size: 0.9em; }
  .error { color: #b00020; }
</style>
<script charset="utf-8" src="{{LIFF_SDK}}"></script>
</head>
<body>
<h1 id="title">登録しています… <span class="en">Joining…</span></h1>
<div id="result"></div>
<script>
  const LIFF_ID = "{{LIFF_ID}}";
  const show = (title, body, isError) => {
    document.getElementById("title").innerHTML = title;
    const r = document.getElementById("result");
    r.className = isError ? "error" : "";
    r.innerHTML = body;
  };
  const text = (s) => String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
  async function main() {
    if (!LIFF_ID) {
      show("準備中です <span class='en'>Not ready</span>",
           "この店舗ではまだLINE登録を受け付けていません。<br><span class='en'>Signup with LINE is not set up here yet.</span>", true);
      return;
    }
    await liff.init({ liffId: LIFF_ID });
    if (!liff.isLoggedIn()) { liff.login({ redirectUri: location.href }); return; }
    const token = new URLSearchParams(location.search).get("t");
    if (!token) {
      show("QRコードを読み取ってください <span class='en'>Scan the kiosk's code</span>",
           "店頭の画面のQRコードをLINEで読み取ってください。<br><span class='en'>Scan the QR code on the kiosk with LINE.</span>", true);
      return;
    }
    const answer = await fetch("/v1/signups/" + encodeURIComponent(token) + "/complete", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id_token: liff.getIDToken() }),
    });
    const body = await answer.json().catch(() => ({}));
    if (answer.ok) {
      show(body.kind === "card_link" ? "カードを連携しました <span class='en'>Card linked</span>"
                                     : "ようこそ！ <span class='en'>Welcome!</span>",
           "会員番号 <span class='en'>Member number</span><div class='number'>" + text(body.member_number) +
           "</div>会員証はLINEのトーク画面のメニュー「会員証」からいつでも表示できます。<br>" +
           "<span class='en'>Your member card is in LINE: open this chat's menu and tap “Member card”.</span>", false);
    } else {
      const message = (body.error && body.error.message) || ("error " + answer.status);
      show("登録できませんでした <span class='en'>Could not join</span>", text(message), true);
    }
  }
  main().catch((e) => show("エラー <span class='en'>Error</span>", text(e), true));
</script>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_the_liff_sdk_with_our_app() {
        let page = html(Some("1234567890-AbCdEfGh"));
        assert!(page.contains(r#"<script charset="utf-8" src="https://static.line-scdn.net/liff/edge/2/sdk.js"></script>"#));
        assert!(page.contains(r#"const LIFF_ID = "1234567890-AbCdEfGh";"#));
        assert!(page.contains("/complete"));
        // Nothing outside the id's alphabet reaches the script.
        assert!(html(Some("x\";alert(1)//")).contains(r#"const LIFF_ID = "xalert1";"#));
    }
}
