//! The LIFF page (`GET /liff/signup`, the LIFF app's endpoint URL). LINE opens it two ways:
//! - from the kiosk's QR code (`?t=` the signup token): it sends the token and LINE's ID token
//!   to `POST /v1/signups/{token}/complete`, then shows the member card;
//! - from the official account's menu ("Member card", `https://liff.line.me/{liffId}`): the
//!   member card at once.
//!
//! The card (`POST /v1/cards/me`, see [`super::card`]) is the member number, points, stamps,
//! tier and the rotating QR, asked for again every minute. Japanese first, English below; no
//! personal data is asked for here (docs/design.md §5).

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
<title>会員証 / Member card</title>
<style>
  body { font-family: sans-serif; margin: 0; padding: 24px; text-align: center; color: #222; }
  h1 { font-size: 1.4em; }
  .number { font-size: 2em; letter-spacing: 0.08em; font-weight: bold; margin: 16px 0; }
  .en { color: #666; font-size: 0.9em; }
  .error { color: #b00020; }
  #qr svg { width: min(80vw, 320px); height: auto; }
  .facts { display: flex; justify-content: center; gap: 24px; margin: 12px 0; }
  .facts b { display: block; font-size: 1.4em; }
</style>
<script charset="utf-8" src="{{LIFF_SDK}}"></script>
</head>
<body>
<h1 id="title">読み込み中… <span class="en">Loading…</span></h1>
<div id="result"></div>
<div id="card" hidden>
  <div id="qr"></div>
  <div class="number" id="number"></div>
  <div class="facts">
    <div><b id="points"></b>ポイント <span class="en">points</span></div>
    <div><b id="stamps"></b>スタンプ <span class="en">stamps</span></div>
    <div><b id="tier"></b>ランク <span class="en">tier</span></div>
  </div>
  <div class="en">レジでこの画面を見せてください。QRコードは自動で更新されます。<br>
    Show this screen at the till. The QR code renews by itself.</div>
</div>
<script>
  const LIFF_ID = "{{LIFF_ID}}";
  const show = (title, body, isError) => {
    document.getElementById("title").innerHTML = title;
    const r = document.getElementById("result");
    r.className = isError ? "error" : "";
    r.innerHTML = body;
  };
  const text = (s) => String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
  const post = async (path, body) => {
    const answer = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return { ok: answer.ok, status: answer.status, body: await answer.json().catch(() => ({})) };
  };
  const message = (a) => (a.body.error && a.body.error.message) || ("error " + a.status);
  // The member card: asked for again before its QR stops being accepted at the till.
  async function showCard(keepTitle) {
    const a = await post("/v1/cards/me", { id_token: liff.getIDToken() });
    if (!a.ok) {
      document.getElementById("card").hidden = true;
      if (a.status === 404) {
        show("まだ会員ではありません <span class='en'>Not a member yet</span>",
             "店頭の画面のQRコードをLINEで読み取って登録してください。<br><span class='en'>" + text(message(a)) + "</span>", true);
      } else {
        show("会員証を表示できません <span class='en'>Cannot show the card</span>", text(message(a)), true);
      }
      return;
    }
    const c = a.body;
    if (!keepTitle) show("会員証 <span class='en'>Member card</span>", "", false);
    document.getElementById("qr").innerHTML = c.qr_svg;
    document.getElementById("number").textContent = c.member_number;
    document.getElementById("points").textContent = c.points;
    document.getElementById("stamps").textContent = c.stamps + " / " + c.card_size;
    document.getElementById("tier").textContent = c.tier;
    document.getElementById("card").hidden = false;
    setTimeout(() => showCard(true).catch(() => {}), c.refresh_secs * 1000);
  }
  async function main() {
    if (!LIFF_ID) {
      show("準備中です <span class='en'>Not ready</span>",
           "この店舗ではまだLINE登録を受け付けていません。<br><span class='en'>Signup with LINE is not set up here yet.</span>", true);
      return;
    }
    await liff.init({ liffId: LIFF_ID });
    if (!liff.isLoggedIn()) { liff.login({ redirectUri: location.href }); return; }
    // Opened from the kiosk's QR code (?t=…): join or link first. Opened from the menu: the card.
    const token = new URLSearchParams(location.search).get("t");
    if (!token) { await showCard(false); return; }
    const a = await post("/v1/signups/" + encodeURIComponent(token) + "/complete",
                         { id_token: liff.getIDToken() });
    if (!a.ok) {
      show("登録できませんでした <span class='en'>Could not join</span>", text(message(a)), true);
      return;
    }
    show(a.body.kind === "card_link" ? "カードを連携しました <span class='en'>Card linked</span>"
                                     : "ようこそ！ <span class='en'>Welcome!</span>",
         "会員証はこのトークのメニュー「会員証」からいつでも表示できます。<br>" +
         "<span class='en'>Your member card is always in this chat's menu: “Member card”.</span>", false);
    await showCard(true);
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
        assert!(page.contains("/v1/cards/me"));
        // Nothing outside the id's alphabet reaches the script.
        assert!(html(Some("x\";alert(1)//")).contains(r#"const LIFF_ID = "xalert1";"#));
    }
}
