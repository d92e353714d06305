//! The words of each scenario, in Japanese and English (the member's language), as LINE
//! messages: a Flex bubble with a button to the member card when its URL is set, else text.
//! Amounts are grouped (`¥12,345`, `3,347 pt`). No message names the member: LINE shows it to
//! them alone, and the outbox keeps the body.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tenpo_line::messaging::Message;
use tenpo_loyalty::{Coupon, CouponBenefit, Date, Points, Yen};
use tenpo_protocol::display::{group, yen};

use crate::store::outbox::Language;

/// What a message says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Text {
    Welcome,
    TierProgress { tier: String, remaining: Yen },
    PointsExpiring { points: Points, expires_on: Date },
    Birthday { coupon: Coupon },
    StampCardFull { coupon: Coupon },
}

impl Text {
    /// The scenario's name, as the outbox and reports count it.
    pub fn scenario(&self) -> &'static str {
        match self {
            Text::Welcome => "welcome",
            Text::TierProgress { .. } => "tier_progress",
            Text::PointsExpiring { .. } => "points_expiring",
            Text::Birthday { .. } => "birthday",
            Text::StampCardFull { .. } => "stamp_card_full",
        }
    }

    /// The title and the body, in `language`.
    fn words(&self, language: Language) -> (String, String) {
        let ja = language == Language::Ja;
        match self {
            Text::Welcome if ja => (
                "ご入会ありがとうございます".into(),
                "会員カードは、このトークのメニューからいつでも開けます。プロフィール（誕生日・\
                 お知らせの受け取り方）を登録すると、誕生月にクーポンをお届けします。"
                    .into(),
            ),
            Text::Welcome => (
                "Welcome to the program".into(),
                "Your member card is always in this chat's menu. Add your birthday and how you \
                 want to hear from us in your profile, and a coupon comes in your birthday month."
                    .into(),
            ),
            Text::TierProgress { tier, remaining } if ja => (
                format!("あと{}で {tier}", yen(*remaining)),
                format!(
                    "あと{}のお買い物で {tier} になります。ポイントがもっと貯まります。",
                    yen(*remaining)
                ),
            ),
            Text::TierProgress { tier, remaining } => (
                format!("{} to {tier}", yen(*remaining)),
                format!(
                    "Spend {} more and you reach {tier}: more points on every purchase.",
                    yen(*remaining)
                ),
            ),
            Text::PointsExpiring { points, expires_on } if ja => (
                format!(
                    "{} pt が {} に失効します",
                    group(*points),
                    jp_date(*expires_on)
                ),
                "失効する前に、次のお買い物でお使いください。".into(),
            ),
            Text::PointsExpiring { points, expires_on } => (
                format!("{} pt expire on {expires_on}", group(*points)),
                "Use them on your next purchase before they lapse.".into(),
            ),
            Text::Birthday { coupon } if ja => (
                "お誕生月おめでとうございます".into(),
                format!(
                    "{}のクーポンをお届けしました（{}まで）。レジで会員カードをお見せください。",
                    benefit(&coupon.benefit, language),
                    jp_date(coupon.valid_until)
                ),
            ),
            Text::Birthday { coupon } => (
                "Happy birthday month".into(),
                format!(
                    "A coupon for {} is on your card until {}. Show your member card at the till.",
                    benefit(&coupon.benefit, language),
                    coupon.valid_until
                ),
            ),
            Text::StampCardFull { coupon } if ja => (
                "スタンプカードがいっぱいになりました".into(),
                format!(
                    "特典の{}クーポンをお届けしました（{}まで）。",
                    benefit(&coupon.benefit, language),
                    jp_date(coupon.valid_until)
                ),
            ),
            Text::StampCardFull { coupon } => (
                "Your stamp card is full".into(),
                format!(
                    "Your reward, a coupon for {}, is on your card until {}.",
                    benefit(&coupon.benefit, language),
                    coupon.valid_until
                ),
            ),
        }
    }
}

/// What a message says, whichever channel carries it: LINE's Flex bubble and the email are both
/// drawn from it (`crate::email::OutgoingEmail::new`), so the two say the same words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Words {
    pub title: String,
    pub body: String,
    /// The label of the message's button (or link, in email).
    pub link_label: String,
}

/// What the outbox keeps of a scenario's message (`MessageAction::Compose`): the words'
/// inputs and the member's language, composed into LINE messages by [`compose`] when sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Said {
    pub language: Language,
    pub text: Text,
}

/// The LINE messages of a stored [`Said`], a button to `card_url` when set.
pub fn compose(said_json: &str, card_url: Option<&str>) -> Result<Vec<Message>, serde_json::Error> {
    let said: Said = serde_json::from_str(said_json)?;
    Ok(render(&said.text, said.language, card_url))
}

/// `2027年1月31日`.
fn jp_date(d: Date) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

fn benefit(b: &CouponBenefit, language: Language) -> String {
    match (b, language) {
        (CouponBenefit::Discount { value_yen }, Language::Ja) => format!("{}引き", yen(*value_yen)),
        (CouponBenefit::Discount { value_yen }, Language::En) => format!("{} off", yen(*value_yen)),
        (CouponBenefit::PointsBonus { points }, Language::Ja) => {
            format!("{} pt プレゼント", group(*points))
        }
        (CouponBenefit::PointsBonus { points }, Language::En) => {
            format!("{} bonus points", group(*points))
        }
    }
}

/// The LINE messages of `text` in `language`; a button to `card_url` when set.
pub fn render(text: &Text, language: Language, card_url: Option<&str>) -> Vec<Message> {
    let (title, body) = text.words(language);
    let Some(url) = card_url else {
        return vec![Message::Text {
            text: format!("{title}\n{body}"),
        }];
    };
    let label = match language {
        Language::Ja => "会員カードを開く",
        Language::En => "Open my member card",
    };
    vec![Message::Flex {
        alt_text: title.clone(),
        contents: bubble(&title, &body, label, url),
    }]
}

pub(crate) fn bubble(title: &str, body: &str, label: &str, url: &str) -> Value {
    json!({
        "type": "bubble",
        "body": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {"type": "text", "text": title, "weight": "bold", "size": "lg", "wrap": true},
                {"type": "text", "text": body, "wrap": true, "margin": "md", "size": "sm"}
            ]
        },
        "footer": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {"type": "button", "style": "primary",
                 "action": {"type": "uri", "label": label, "uri": url}}
            ]
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn coupon() -> Coupon {
        Coupon {
            coupon_id: "coupon-1".into(),
            benefit: CouponBenefit::Discount { value_yen: 500 },
            valid_from: "2027-01-01".parse().unwrap(),
            valid_until: "2027-01-31".parse().unwrap(),
        }
    }

    #[test]
    fn words_in_each_language_with_grouped_amounts() {
        let t = Text::TierProgress {
            tier: "premier".into(),
            remaining: 12_345,
        };
        assert_eq!(t.words(Language::Ja).0, "あと¥12,345で premier");
        assert_eq!(t.words(Language::En).0, "¥12,345 to premier");
        let p = Text::PointsExpiring {
            points: 1_300,
            expires_on: "2027-01-31".parse().unwrap(),
        };
        assert_eq!(
            p.words(Language::Ja).0,
            "1,300 pt が 2027年1月31日 に失効します"
        );
        assert_eq!(p.words(Language::En).0, "1,300 pt expire on 2027-01-31");
        let b = Text::Birthday { coupon: coupon() };
        assert!(b.words(Language::Ja).1.contains("¥500引き"));
        assert!(b.words(Language::En).1.contains("¥500 off"));
    }

    #[test]
    fn a_card_url_makes_a_flex_bubble_with_its_button() {
        let url = "https://liff.line.me/1234567890-AbCdEfGh/card";
        let m = render(
            &Text::StampCardFull { coupon: coupon() },
            Language::Ja,
            Some(url),
        );
        let Message::Flex { alt_text, contents } = &m[0] else {
            panic!("{m:?}")
        };
        assert_eq!(alt_text, "スタンプカードがいっぱいになりました");
        let button = &contents["footer"]["contents"][0]["action"];
        assert_eq!(button["uri"], url);
        assert_eq!(button["type"], "uri");
        let plain = render(&Text::Welcome, Language::En, None);
        assert!(matches!(&plain[0], Message::Text { text } if text.starts_with("Welcome")));
    }

    #[test]
    fn what_is_kept_composes_to_what_would_have_been_rendered() {
        let said = Said {
            language: Language::En,
            text: Text::PointsExpiring {
                points: 1_300,
                expires_on: "2027-01-31".parse().unwrap(),
            },
        };
        let json = serde_json::to_string(&said).unwrap();
        assert_eq!(
            json,
            r#"{"language":"en","text":{"points_expiring":{"points":1300,"expires_on":"2027-01-31"}}}"#
        );
        let url = Some("https://liff.line.me/1234567890-AbCdEfGh/card");
        assert_eq!(
            compose(&json, url).unwrap(),
            render(&said.text, Language::En, url)
        );
        assert!(compose(r#"{"language":"fr","text":"welcome"}"#, url).is_err());
        assert!(compose("[1,", url).is_err());
    }
}
