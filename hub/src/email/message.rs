//! One email to a member: plain text and HTML of the same [`Words`] (multipart/alternative,
//! UTF-8, subjects as RFC 2047 encoded words), the one-click unsubscribe headers (RFC 2369,
//! RFC 8058), and a `Message-ID` the caller chooses: the outbox row's id (its UUID, or the
//! notification's link id), so an email sent again after a crash carries the same id and the
//! receiving side can tell it is one email.

use lettre::Message;
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use maud::{DOCTYPE, html};

use super::mailer::SendError;
use super::settings::EmailSettings;
use crate::scenarios::templates::Words;
use crate::store::outbox::Language;
use crate::wishes::WishNotice;

/// An email ready to send. Build it with [`OutgoingEmail::new`] (or
/// [`OutgoingEmail::wish`]); its fields are what goes out.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// The member's address (checked when sent: a bad one is a permanent error).
    pub to: String,
    pub language: Language,
    /// The outbox row's id (letters, digits, `.`, `_`, `-`; at most 64): the email's
    /// `Message-ID` is `<{id}@{the sender's domain}>`.
    pub message_id: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The one-click unsubscribe URL (`https://{hub}/u/{token}`), in the headers and the footer.
    pub unsubscribe_url: String,
}

impl std::fmt::Debug for OutgoingEmail {
    // No address: personal data stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingEmail")
            .field("message_id", &self.message_id)
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

/// The footer's words.
fn footer(language: Language) -> (&'static str, &'static str) {
    match language {
        Language::Ja => (
            "このメールは会員プログラムのお知らせです。",
            "メールの配信を停止する",
        ),
        Language::En => (
            "You get this email as a member of our program.",
            "Stop these emails",
        ),
    }
}

/// Tabs, line breaks and other control characters as spaces: a subject is one line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Only web links become buttons.
fn web_link(link: Option<&str>) -> Option<&str> {
    link.filter(|l| l.starts_with("https://") || l.starts_with("http://"))
}

impl OutgoingEmail {
    /// An email saying `words` in `language`, with a button to `link` (the hub's counted
    /// redirect) when given. Every text goes into the HTML escaped.
    pub fn new(
        to: &str,
        language: Language,
        message_id: &str,
        words: &Words,
        link: Option<&str>,
        unsubscribe_url: &str,
    ) -> OutgoingEmail {
        let link = web_link(link);
        let (about, stop) = footer(language);
        let mut text = format!("{}\n\n{}\n", words.title, words.body);
        if let Some(link) = link {
            text.push_str(&format!("\n{}: {link}\n", words.link_label));
        }
        text.push_str(&format!("\n--\n{about}\n{stop}: {unsubscribe_url}\n"));
        let page = html! {
            (DOCTYPE)
            html lang=(language.as_str()) {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (words.title) }
                }
                body style="margin:0;padding:24px 12px;background:#f4f4f4;color:#222;\
                            font-family:sans-serif" {
                    div style="max-width:560px;margin:0 auto;background:#fff;\
                               border-radius:8px;padding:24px" {
                        h1 style="font-size:20px;margin:0 0 12px" { (words.title) }
                        p style="font-size:15px;line-height:1.7;margin:0 0 20px" { (words.body) }
                        @if let Some(link) = link {
                            p style="margin:0" {
                                a href=(link) style="display:inline-block;background:#06c755;\
                                    color:#fff;padding:12px 24px;border-radius:6px;\
                                    text-decoration:none;font-weight:bold" { (words.link_label) }
                            }
                        }
                    }
                    p style="max-width:560px;margin:16px auto 0;font-size:12px;color:#777" {
                        (about) " "
                        a href=(unsubscribe_url) style="color:#777" { (stop) }
                    }
                }
            }
        };
        OutgoingEmail {
            to: to.to_owned(),
            language,
            message_id: message_id.to_owned(),
            subject: one_line(&words.title),
            text,
            html: page.into_string(),
            unsubscribe_url: unsubscribe_url.to_owned(),
        }
    }

    /// A wish's notification (the same words as its LINE message,
    /// [`crate::scenarios::wish::words`]), its button to the notice's link.
    pub fn wish(
        notice: &WishNotice,
        to: &str,
        message_id: &str,
        unsubscribe_url: &str,
    ) -> OutgoingEmail {
        let words = crate::scenarios::wish::words(notice);
        OutgoingEmail::new(
            to,
            notice.language,
            message_id,
            &words,
            notice.link.as_deref(),
            unsubscribe_url,
        )
    }

    /// The `Message-ID`, `<{uuid}@{domain}>` with the sender's domain.
    pub fn message_id_header(&self, from: &Mailbox) -> String {
        format!("<{}@{}>", self.message_id, from.email.domain())
    }

    /// The message as it goes to the server, from `settings`' sender.
    pub fn to_message(&self, settings: &EmailSettings) -> Result<Message, SendError> {
        let id_ok = (1..=64).contains(&self.message_id.len())
            && self
                .message_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !id_ok {
            return Err(SendError::Unbuildable(format!(
                "the message id {:?} is not 1 to 64 letters, digits, '.', '_' or '-'",
                self.message_id
            )));
        }
        let to: lettre::Address =
            self.to
                .trim()
                .parse()
                .map_err(
                    |e: lettre::address::AddressError| SendError::InvalidAddress {
                        problem: e.to_string(),
                    },
                )?;
        let mut builder = Message::builder()
            .from(settings.from.clone())
            .to(Mailbox::new(None, to))
            .subject(self.subject.clone())
            .message_id(Some(self.message_id_header(&settings.from)))
            .header(ListUnsubscribe(self.unsubscribe_url.clone()))
            .header(ListUnsubscribePost)
            .header(ContentLanguage(self.language.as_str().into()));
        if let Some(reply_to) = &settings.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                self.text.clone(),
                self.html.clone(),
            ))
            .map_err(|e| SendError::Unbuildable(e.to_string()))
    }
}

/// `List-Unsubscribe: <https://…>` (RFC 2369).
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl Header for ListUnsubscribe {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribe(
            s.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .into(),
        ))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), format!("<{}>", self.0))
    }
}

/// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058): mail programs may
/// unsubscribe with one POST to the `List-Unsubscribe` URL.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl Header for ListUnsubscribePost {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ListUnsubscribePost)
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".into())
    }
}

/// `Content-Language: ja` (RFC 3282).
#[derive(Debug, Clone)]
struct ContentLanguage(String);

impl Header for ContentLanguage {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Content-Language")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ContentLanguage(s.trim().into()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::email::settings::TlsMode;

    fn words(title: &str, body: &str) -> Words {
        Words {
            title: title.into(),
            body: body.into(),
            link_label: "商品を見る".into(),
        }
    }

    #[test]
    fn text_is_escaped_in_the_html_and_kept_in_the_text() {
        let e = OutgoingEmail::new(
            "member@example.jp",
            Language::Ja,
            "00000000-0000-0000-0000-000000000000",
            &words("<script>alert(1)</script>", "A & B \"quoted\""),
            Some("https://hub.example/r/abc?x=1&y=2"),
            "https://hub.example/u/tok",
        );
        assert!(!e.html.contains("<script>"), "{}", e.html);
        assert!(e.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(e.html.contains("A &amp; B &quot;quoted&quot;"));
        assert!(
            e.html
                .contains(r#"href="https://hub.example/r/abc?x=1&amp;y=2""#)
        );
        assert!(e.text.contains("A & B \"quoted\""));
        assert!(
            e.text
                .contains("商品を見る: https://hub.example/r/abc?x=1&y=2")
        );
        assert!(e.text.contains("https://hub.example/u/tok"));
        let no_button = OutgoingEmail::new(
            "member@example.jp",
            Language::En,
            "00000000-0000-0000-0000-000000000000",
            &words("t", "b"),
            Some("javascript:alert(1)"),
            "https://hub.example/u/tok",
        );
        assert!(!no_button.html.contains("javascript:"));
        assert!(no_button.html.contains("Stop these emails"));
    }

    #[test]
    fn a_subject_is_one_line_and_headers_carry_no_injection() {
        let settings =
            EmailSettings::new("127.0.0.1", 2525, TlsMode::None, "Shop <news@shop.example>")
                .unwrap();
        let e = OutgoingEmail::new(
            "member@example.jp",
            Language::Ja,
            "00000000-0000-0000-0000-000000000000",
            &words("入荷\r\nBcc: victim@example.jp", "b"),
            None,
            "https://hub.example/u/tok",
        );
        assert_eq!(e.subject, "入荷  Bcc: victim@example.jp");
        let raw = String::from_utf8(e.to_message(&settings).unwrap().formatted()).unwrap();
        let headers = raw.split("\r\n\r\n").next().unwrap();
        assert!(!headers.contains("\r\nBcc:"), "{raw}");
        assert!(raw.is_ascii());
        assert!(
            raw.contains("Message-ID: <00000000-0000-0000-0000-000000000000@shop.example>\r\n")
        );
        let bad_id = OutgoingEmail {
            message_id: "a>b".into(),
            ..e.clone()
        };
        assert!(bad_id.to_message(&settings).unwrap_err().is_permanent());
        let bad = OutgoingEmail {
            to: "not an address".into(),
            ..e
        };
        let err = bad.to_message(&settings).unwrap_err();
        assert!(err.is_permanent(), "{err}");
        assert!(!err.to_string().contains("not an address"), "{err}");
    }
}
