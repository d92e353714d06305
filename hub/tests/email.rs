//! The email channel's parts against a real SMTP server (aiosmtpd, `tenpo_e2e::smtp`): what a
//! member receives, and what the mailer says when the server refuses, defers, drops the
//! connection, never answers, or is not there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tenpo_e2e::smtp::mail_parser::MimeHeaders;
use tenpo_e2e::smtp::{SmtpServer, Stage};
use tenpo_hub::email::{
    EmailSection, EmailSettings, Mailer, OutgoingEmail, SendError, TlsMode,
    check_unsubscribe_token, unsubscribe_url,
};
use tenpo_hub::store::outbox::Language;
use tenpo_hub::wishes::WishNotice;
use tenpo_protocol::events::WishKind;

const KEY: [u8; 32] = [42; 32];
const FROM: &str = "テンポ商店 <news@shop.example>";

fn settings(port: u16) -> EmailSettings {
    EmailSettings::new("127.0.0.1", port, TlsMode::None, FROM).unwrap()
}

fn restock(language: Language) -> WishNotice {
    WishNotice {
        kind: WishKind::Restock,
        language,
        // Catalogue text goes into HTML: it must arrive escaped.
        item_ja: "抹茶ラテ <限定> & 濃いめ".into(),
        item_en: Some("Matcha latte".into()),
        price_yen: 1280,
        was_price_yen: None,
        store_id: Some("渋谷店".into()),
        link: Some("https://hub.example/r/0123abcd".into()),
        image_url: None,
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn email_to(to: &str) -> OutgoingEmail {
    let unsubscribe = unsubscribe_url("https://hub.example", &KEY, "m-1", Language::Ja).unwrap();
    OutgoingEmail::wish(&restock(Language::Ja), to, &new_id(), &unsubscribe)
}

#[tokio::test]
async fn a_japanese_restock_email_arrives_as_the_member_reads_it() {
    let server = SmtpServer::start();
    let mailer = Mailer::new(&settings(server.port())).unwrap();
    // The outbox row's id, as the caller keeps it.
    let message_id = uuid::Uuid::now_v7().to_string();
    let unsubscribe = unsubscribe_url("https://hub.example", &KEY, "m-1", Language::Ja).unwrap();
    let email = OutgoingEmail::wish(
        &restock(Language::Ja),
        "hanako@example.jp",
        &message_id,
        &unsubscribe,
    );
    let delivered = mailer.send(&email).await.unwrap();
    assert_eq!(delivered.code, 250);
    assert!(delivered.reply.contains("queued as Q"), "{delivered:?}");

    let got = server.wait_for(1, Duration::from_secs(10)).await;
    let m = &got[0];
    assert_eq!(m.mail_from, "news@shop.example");
    assert_eq!(m.rcpt_to, ["hanako@example.jp"]);
    // On the wire every header is ASCII: the subject and the sender's name as encoded words.
    let headers = m.raw_headers();
    assert!(headers.is_ascii(), "{headers}");
    assert!(
        headers.to_ascii_lowercase().contains("subject: =?utf-8?"),
        "{headers}"
    );

    let p = m.parsed();
    assert_eq!(p.subject(), Some("入荷しました：抹茶ラテ <限定> & 濃いめ"));
    let from = p.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("テンポ商店"));
    assert_eq!(from.address(), Some("news@shop.example"));
    assert_eq!(
        p.message_id(),
        Some(format!("{message_id}@shop.example").as_str())
    );
    assert_eq!(
        p.header_raw("List-Unsubscribe").map(str::trim),
        Some(format!("<{unsubscribe}>").as_str())
    );
    assert_eq!(
        p.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(p.header_raw("Content-Language").map(str::trim), Some("ja"));
    // The token in the header names the member.
    let token = unsubscribe
        .trim_start_matches("https://hub.example/u/")
        .split('?')
        .next()
        .unwrap();
    assert_eq!(check_unsubscribe_token(&KEY, token).as_deref(), Some("m-1"));

    // multipart/alternative: a text part and an HTML part, each UTF-8.
    let ct = p.content_type().unwrap();
    assert_eq!(
        (ct.ctype(), ct.subtype()),
        ("multipart", Some("alternative"))
    );
    assert_eq!((p.text_body_count(), p.html_body_count()), (1, 1));
    let text = p.body_text(0).unwrap();
    assert!(
        text.contains("入荷しました：抹茶ラテ <限定> & 濃いめ"),
        "{text}"
    );
    assert!(
        text.contains("渋谷店に入荷しました") && text.contains("¥1,280"),
        "{text}"
    );
    assert!(
        text.contains("商品を見る: https://hub.example/r/0123abcd"),
        "{text}"
    );
    assert!(text.contains(&unsubscribe), "{text}");
    let html = p.body_html(0).unwrap();
    assert!(
        html.contains("抹茶ラテ &lt;限定&gt; &amp; 濃いめ") && !html.contains("<限定>"),
        "{html}"
    );
    assert!(
        html.contains(r#"href="https://hub.example/r/0123abcd""#),
        "{html}"
    );
    assert!(html.contains("メールの配信を停止する"), "{html}");
    for part in p.parts.iter().skip(1) {
        let ct = part.content_type().unwrap();
        assert_eq!(
            ct.attribute("charset")
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("utf-8"),
            "{ct:?}"
        );
    }

    // Sent again after a crash: the same Message-ID.
    mailer.send(&email).await.unwrap();
    let got = server.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(got[1].parsed().message_id(), p.message_id());
}

#[tokio::test]
async fn a_recipient_refused_for_good_is_never_sent_again() {
    let server = SmtpServer::start();
    server.refuse(
        "gone@example.jp",
        Stage::Rcpt,
        "550 5.1.1 <gone@example.jp>: Recipient address rejected: User unknown",
    );
    server.refuse(
        "spam@example.jp",
        Stage::Data,
        "554 5.7.1 Message rejected as spam",
    );
    let mailer = Mailer::new(&settings(server.port())).unwrap();
    let e = mailer.send(&email_to("gone@example.jp")).await.unwrap_err();
    assert!(e.is_permanent(), "{e}");
    assert_eq!(e.reply_code(), Some(550));
    let text = e.to_string();
    assert!(
        text.contains("550") && text.contains("User unknown"),
        "{text}"
    );
    assert!(
        text.contains(&format!("127.0.0.1:{}", server.port())),
        "{text}"
    );

    let e = mailer.send(&email_to("spam@example.jp")).await.unwrap_err();
    assert!(matches!(e, SendError::Rejected { code: 554, .. }), "{e}");

    let e = mailer.send(&email_to("not an address")).await.unwrap_err();
    assert!(matches!(e, SendError::InvalidAddress { .. }), "{e}");
    assert!(e.is_permanent());

    // The next member's email still goes, on the same mailer.
    mailer.send(&email_to("ok@example.jp")).await.unwrap();
    let got = server.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, ["ok@example.jp"]);
}

#[tokio::test]
async fn a_server_that_asks_to_try_later_is_tried_later() {
    let server = SmtpServer::start();
    server.refuse(
        "busy@example.jp",
        Stage::Rcpt,
        "451 4.3.0 Mailbox temporarily unavailable",
    );
    let mailer = Mailer::new(&settings(server.port())).unwrap();
    let e = mailer.send(&email_to("busy@example.jp")).await.unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(matches!(e, SendError::Deferred { code: 451, .. }), "{e}");
    assert!(
        e.to_string()
            .contains("451 4.3.0 Mailbox temporarily unavailable")
    );

    // Once the server takes it, the same email goes.
    server.accept_all();
    mailer.send(&email_to("busy@example.jp")).await.unwrap();
    server.wait_for(1, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_sender_the_server_refuses_is_the_hubs_to_fix_not_the_members() {
    let server = SmtpServer::start();
    server.refuse(
        "news@shop.example",
        Stage::Mail,
        "553 5.1.8 Sender address rejected: Domain not found",
    );
    let mailer = Mailer::new(&settings(server.port())).unwrap();
    let e = mailer
        .send(&email_to("hanako@example.jp"))
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Setup { .. }), "{e}");
    assert!(e.is_transient());
    assert!(e.to_string().contains("email.from"), "{e}");
}

#[tokio::test]
async fn the_login_comes_from_its_password_file_and_a_wrong_one_is_the_hubs_to_fix() {
    let server = SmtpServer::start();
    server.require_login("tenpo-hub", "s3cret-pass");
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("smtp-password");
    let with_password = |password: &str| {
        std::fs::write(&password_file, format!("{password}\n")).unwrap();
        tenpo_hub::email::settings::resolve(EmailSection {
            smtp_host: Some("127.0.0.1".into()),
            smtp_port: Some(server.port()),
            tls: Some(TlsMode::None),
            username: Some("tenpo-hub".into()),
            password_file: Some(password_file.clone()),
            from: Some(FROM.into()),
            ..EmailSection::default()
        })
        .unwrap()
        .unwrap()
    };
    let e = Mailer::new(&with_password("wrong-pass"))
        .unwrap()
        .send(&email_to("hanako@example.jp"))
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Setup { .. }), "{e}");
    assert!(e.is_transient());
    let text = e.to_string();
    assert!(
        text.contains("535") && text.contains("email.password_file"),
        "{text}"
    );
    assert!(!text.contains("wrong-pass"), "{text}");

    Mailer::new(&with_password("s3cret-pass"))
        .unwrap()
        .send(&email_to("hanako@example.jp"))
        .await
        .unwrap();
    server.wait_for(1, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn tls_the_server_does_not_speak_is_the_hubs_to_fix() {
    let server = SmtpServer::start();
    for tls in [TlsMode::Starttls, TlsMode::Tls] {
        let s = EmailSettings::new("127.0.0.1", server.port(), tls, FROM).unwrap();
        let e = Mailer::new(&s)
            .unwrap()
            .send(&email_to("hanako@example.jp"))
            .await
            .unwrap_err();
        assert!(matches!(e, SendError::Setup { .. }), "{tls:?}: {e}");
        assert!(e.to_string().contains("email.tls"), "{e}");
    }
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_connection_dropped_during_the_data_is_sent_again() {
    let server = SmtpServer::start();
    server.drop_mid_data("hanako@example.jp");
    let mailer = Mailer::new(&settings(server.port())).unwrap();
    let e = mailer
        .send(&email_to("hanako@example.jp"))
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(matches!(e, SendError::Dropped { .. }), "{e}");
    assert!(server.received().is_empty());

    server.accept_all();
    mailer.send(&email_to("hanako@example.jp")).await.unwrap();
    server.wait_for(1, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = SmtpServer::start();
    server.stall_at_data("hanako@example.jp");
    let mut s = settings(server.port());
    s.timeout = Duration::from_secs(1);
    let mailer = Mailer::new(&s).unwrap();
    let started = std::time::Instant::now();
    let e = mailer
        .send(&email_to("hanako@example.jp"))
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Timeout { .. }), "{e}");
    assert!(e.is_transient());
    assert!(e.to_string().contains("within 1 s"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(5), "{e}");
}

#[tokio::test]
async fn nothing_listening_is_tried_later_and_says_where_it_looked() {
    let port = tenpo_e2e::harness::free_port();
    let mailer = Mailer::new(&settings(port)).unwrap();
    let e = mailer
        .send(&email_to("hanako@example.jp"))
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Unreachable { .. }), "{e}");
    assert!(e.is_transient());
    let text = e.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(text.to_lowercase().contains("refused"), "{text}");
    assert!(text.contains("email.smtp_host"), "{text}");
}

#[test]
fn no_encryption_to_another_machine_is_refused_in_the_settings() {
    let file: tenpo_hub::config::FileConfig = toml::from_str(
        "[email]\nsmtp_host = \"smtp.example.jp\"\ntls = \"none\"\nfrom = \"news@shop.example\"\n",
    )
    .unwrap();
    let e = tenpo_hub::config::Settings::from_parts(&Default::default(), file)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("email.tls") && e.contains("smtp.example.jp"),
        "{e}"
    );

    let file: tenpo_hub::config::FileConfig =
        toml::from_str("[email]\nsmtp_host = \"smtp.example.jp\"\nfrom = \"news@shop.example\"\n")
            .unwrap();
    let s = tenpo_hub::config::Settings::from_parts(&Default::default(), file).unwrap();
    let email = s.email.unwrap();
    assert_eq!((email.smtp_port, email.tls), (587, TlsMode::Starttls));
    let s = tenpo_hub::config::Settings::from_parts(&Default::default(), Default::default());
    assert!(s.unwrap().email.is_none());
}

#[test]
fn unsubscribe_tokens_round_trip_and_forgeries_are_refused() {
    let url = unsubscribe_url("https://hub.example", &KEY, "m-42", Language::En).unwrap();
    let token = url
        .strip_prefix("https://hub.example/u/")
        .unwrap()
        .strip_suffix("?lang=en")
        .unwrap();
    assert_eq!(
        check_unsubscribe_token(&KEY, token).as_deref(),
        Some("m-42")
    );
    let forged = unsubscribe_url("https://hub.example", &[1; 32], "m-42", Language::En).unwrap();
    let forged = forged
        .strip_prefix("https://hub.example/u/")
        .unwrap()
        .strip_suffix("?lang=en")
        .unwrap();
    assert_eq!(check_unsubscribe_token(&KEY, forged), None);
}
