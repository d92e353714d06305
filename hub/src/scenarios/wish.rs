//! The words of a wish's notification (docs/design.md §11), in Japanese and English (the
//! member's language), for each kind: back in stock, cheaper, one left at the member's store.
//! [`words`] says them once; [`line_messages`] draws them as LINE messages and
//! `crate::email::OutgoingEmail::wish` as an email, so both channels say the same. The item is
//! named in the member's language (Japanese when it has no English name); prices are yen
//! grouped, `¥1,280`.

use serde_json::json;
use tenpo_line::messaging::Message;
use tenpo_protocol::display::yen;
use tenpo_protocol::events::WishKind;

use super::templates::{Words, bubble};
use crate::store::outbox::Language;
use crate::wishes::{NoticeBody, WishNotice};

/// What a notification says: title, body and the label of its button.
pub fn words(notice: &WishNotice) -> Words {
    let item = notice.item_name();
    let now = yen(notice.price_yen);
    let store = notice.store_id.as_deref().filter(|s| !s.is_empty());
    let (title, body) = match (notice.kind, notice.language) {
        (WishKind::Restock, Language::Ja) => (
            format!("入荷しました：{item}"),
            match store {
                Some(store) => format!(
                    "お待たせしました。ご希望の「{item}」が{store}に入荷しました。価格は{now}です。"
                ),
                None => {
                    format!("お待たせしました。ご希望の「{item}」が入荷しました。価格は{now}です。")
                }
            },
        ),
        (WishKind::Restock, Language::En) => (
            format!("Back in stock: {item}"),
            match store {
                Some(store) => format!(
                    "{item}, which you asked us about, is back in stock at {store}. It is {now}."
                ),
                None => format!("{item}, which you asked us about, is back in stock. It is {now}."),
            },
        ),
        (WishKind::PriceDrop, Language::Ja) => (
            format!("お値下げ：{item}"),
            match notice.was_price_yen {
                Some(was) => format!(
                    "ご希望の「{item}」がお値下げしました：{} → {now}。",
                    yen(was)
                ),
                None => format!("ご希望の「{item}」がお値下げしました。いまは{now}です。"),
            },
        ),
        (WishKind::PriceDrop, Language::En) => (
            format!("Cheaper now: {item}"),
            match notice.was_price_yen {
                Some(was) => format!(
                    "{item}, which you asked us about, is cheaper now: {now} (was {}).",
                    yen(was)
                ),
                None => format!("{item}, which you asked us about, is cheaper now: {now}."),
            },
        ),
        (WishKind::LastOne, Language::Ja) => (
            format!("残り1点：{item}"),
            match store {
                Some(store) => {
                    format!("ご希望の「{item}」が{store}で残り1点になりました。価格は{now}です。")
                }
                None => format!("ご希望の「{item}」が残り1点になりました。価格は{now}です。"),
            },
        ),
        (WishKind::LastOne, Language::En) => (
            match store {
                Some(store) => format!("One left at {store}: {item}"),
                None => format!("One left: {item}"),
            },
            match store {
                Some(store) => format!("There is one {item} left at {store}. It is {now}."),
                None => format!("There is one {item} left. It is {now}."),
            },
        ),
    };
    let link_label = match notice.language {
        Language::Ja => "商品を見る",
        Language::En => "See the item",
    };
    Words {
        title,
        body,
        link_label: link_label.into(),
    }
}

/// The notification as LINE messages: a Flex bubble with the item's picture (an `https` one:
/// LINE shows no other) and a button to the notice's link, or text when it has no link.
pub fn line_messages(notice: &WishNotice) -> Vec<Message> {
    let w = words(notice);
    let Some(link) = notice.link.as_deref() else {
        return vec![Message::Text {
            text: format!("{}\n{}", w.title, w.body),
        }];
    };
    let mut contents = bubble(&w.title, &w.body, &w.link_label, link);
    if let Some(image) = notice
        .image_url
        .as_deref()
        .filter(|u| u.starts_with("https://") && u.len() <= 2000)
    {
        contents["hero"] = json!({
            "type": "image", "url": image, "size": "full",
            "aspectRatio": "1:1", "aspectMode": "cover"
        });
    }
    vec![Message::Flex {
        alt_text: w.title,
        contents,
    }]
}

/// The LINE messages of a notice as a LINE outbox row keeps it ([`NoticeBody`]'s JSON).
pub fn compose(said_json: &str) -> Result<Vec<Message>, serde_json::Error> {
    let body: NoticeBody = serde_json::from_str(said_json)?;
    Ok(line_messages(&body.wish))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn notice(kind: WishKind, language: Language) -> WishNotice {
        WishNotice {
            kind,
            language,
            item_ja: "抹茶ラテ".into(),
            item_en: Some("Matcha latte".into()),
            price_yen: 1280,
            was_price_yen: Some(1580),
            store_id: Some("shibuya".into()),
            link: Some("https://hub.example/r/abc".into()),
            image_url: Some("https://img.example/latte.jpg".into()),
        }
    }

    #[test]
    fn each_kind_in_each_language() {
        let w = words(&notice(WishKind::Restock, Language::Ja));
        assert_eq!(w.title, "入荷しました：抹茶ラテ");
        assert!(w.body.contains("shibuyaに入荷しました") && w.body.contains("¥1,280"));
        assert_eq!(w.link_label, "商品を見る");
        let w = words(&notice(WishKind::Restock, Language::En));
        assert_eq!(w.title, "Back in stock: Matcha latte");
        assert_eq!(w.link_label, "See the item");
        let w = words(&notice(WishKind::PriceDrop, Language::Ja));
        assert_eq!(w.title, "お値下げ：抹茶ラテ");
        assert!(w.body.contains("¥1,580 → ¥1,280"), "{}", w.body);
        let w = words(&notice(WishKind::PriceDrop, Language::En));
        assert_eq!(w.title, "Cheaper now: Matcha latte");
        assert!(w.body.contains("¥1,280 (was ¥1,580)"), "{}", w.body);
        let w = words(&notice(WishKind::LastOne, Language::Ja));
        assert_eq!(w.title, "残り1点：抹茶ラテ");
        assert!(w.body.contains("shibuyaで残り1点"));
        let w = words(&notice(WishKind::LastOne, Language::En));
        assert_eq!(w.title, "One left at shibuya: Matcha latte");
    }

    #[test]
    fn an_item_without_an_english_name_keeps_its_japanese_one() {
        let mut n = notice(WishKind::Restock, Language::En);
        n.item_en = None;
        n.store_id = None;
        let w = words(&n);
        assert_eq!(w.title, "Back in stock: 抹茶ラテ");
        assert!(!w.body.contains(" at "), "{}", w.body);
    }

    #[test]
    fn line_says_the_same_words_with_a_button_and_the_picture() {
        let n = notice(WishKind::PriceDrop, Language::Ja);
        let w = words(&n);
        let m = line_messages(&n);
        let Message::Flex { alt_text, contents } = &m[0] else {
            panic!("{m:?}")
        };
        assert_eq!(alt_text, &w.title);
        assert_eq!(contents["body"]["contents"][1]["text"], w.body.as_str());
        let button = &contents["footer"]["contents"][0]["action"];
        assert_eq!(button["uri"], "https://hub.example/r/abc");
        assert_eq!(button["label"], "商品を見る");
        assert_eq!(contents["hero"]["url"], "https://img.example/latte.jpg");

        let mut plain = n.clone();
        plain.link = None;
        plain.image_url = Some("http://img.example/x.jpg".into());
        let m = line_messages(&plain);
        assert!(matches!(&m[0], Message::Text { text } if text.starts_with("お値下げ")));

        let json = serde_json::to_string(&NoticeBody { wish: n.clone() }).unwrap();
        assert_eq!(compose(&json).unwrap(), line_messages(&n));
        assert!(compose(r#"{"language":"ja","text":"welcome"}"#).is_err());
    }
}
