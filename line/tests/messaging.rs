//! The Messaging API client against the stand-in on loopback: what LINE answers, as LINE
//! answers it, reaches the caller as a typed result or an error naming LINE's reason and
//! request id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use serde_json::json;
use tenpo_line::messaging::{ApiError, Message, MessagingClient, Pushed, Quota};
use tenpo_line::standin::{MessagingChannel, StandIn, router};

const TOKEN: &str = "channel-access-token";
const FRIEND: &str = "U4af4980629000000000000000000000a";
const STRANGER: &str = "U00000000000000000000000000000ff";

async fn standin() -> (Arc<StandIn>, String) {
    let standin = Arc::new(StandIn::new([]).with_messaging(MessagingChannel {
        access_token: TOKEN.into(),
        channel_secret: "secret".into(),
        bot_user_id: "U00000000000000000000000000000b07".into(),
    }));
    standin.add_friend(FRIEND, "山田 花子", "ja");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = router(standin.clone());
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (standin, url)
}

fn hello() -> Vec<Message> {
    vec![Message::Text {
        text: "ようこそ".into(),
    }]
}

const KEY: &str = "123e4567-e89b-12d3-a456-426614174000";

#[tokio::test]
async fn a_push_is_sent_once_per_retry_key() {
    let (standin, url) = standin().await;
    let client = MessagingClient::new(&url, TOKEN).unwrap();
    let first = client.push(FRIEND, &hello(), KEY).await.unwrap();
    let Pushed::Accepted {
        request_id: Some(id),
    } = first
    else {
        panic!("{first:?}")
    };
    // The same key again (a resend after a crash): LINE's 409, reported as already sent.
    assert_eq!(
        client.push(FRIEND, &hello(), KEY).await.unwrap(),
        Pushed::AlreadyAccepted {
            accepted_request_id: Some(id.clone())
        }
    );
    let record = standin.record();
    assert_eq!(record.pushes.len(), 1, "sent once");
    assert_eq!(record.replays, 1);
    assert_eq!(
        record.pushes[0].messages[0],
        json!({"type": "text", "text": "ようこそ"})
    );
    assert_eq!(record.pushes[0].retry_key.as_deref(), Some(KEY));
    assert_eq!(record.consumption, 1);
    // To someone who blocked the account (not a friend): accepted, not counted.
    client
        .push(STRANGER, &hello(), "123e4567-e89b-12d3-a456-426614174001")
        .await
        .unwrap();
    assert_eq!(standin.record().consumption, 1);
    assert_eq!(client.consumption().await.unwrap(), 1);
}

#[tokio::test]
async fn refusals_name_lines_reason_and_request_id() {
    let (standin, url) = standin().await;
    let client = MessagingClient::new(&url, TOKEN).unwrap();
    // Checked before sending: nothing reaches LINE.
    let six = vec![hello()[0].clone(); 6];
    assert!(matches!(
        client.push(FRIEND, &six, KEY).await,
        Err(ApiError::Invalid(_))
    ));
    assert!(matches!(
        client.push(FRIEND, &hello(), "not-a-uuid").await,
        Err(ApiError::Invalid(_))
    ));
    assert!(matches!(
        client
            .push("U1/../../v2/bot/message/broadcast", &hello(), KEY)
            .await,
        Err(ApiError::Invalid(_))
    ));
    assert!(standin.record().pushes.is_empty());
    // A wrong token: LINE's 401 in LINE's words, with its request id; not worth retrying.
    let wrong = MessagingClient::new(&url, "wrong").unwrap();
    let e = wrong.push(FRIEND, &hello(), KEY).await.unwrap_err();
    match &e {
        ApiError::Refused {
            status: 401,
            message,
            request_id: Some(_),
            ..
        } => assert!(message.contains("Authentication failed"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(!e.retryable());
    assert!(e.to_string().contains("x-line-request-id"), "{e}");
    // Too many requests, then LINE failing: both worth retrying, and the retry gets through.
    reqwest::Client::new()
        .post(format!("{url}/standin/fail"))
        .json(&json!({"status": 429, "count": 1}))
        .send()
        .await
        .unwrap();
    let e = client.push(FRIEND, &hello(), KEY).await.unwrap_err();
    assert!(
        matches!(e, ApiError::RateLimited { .. }) && e.retryable(),
        "{e}"
    );
    reqwest::Client::new()
        .post(format!("{url}/standin/fail"))
        .json(&json!({"status": 500, "count": 1}))
        .send()
        .await
        .unwrap();
    let e = client.push(FRIEND, &hello(), KEY).await.unwrap_err();
    assert!(
        matches!(e, ApiError::Unavailable { .. }) && e.retryable(),
        "{e}"
    );
    assert!(matches!(
        client.push(FRIEND, &hello(), KEY).await,
        Ok(Pushed::Accepted { .. })
    ));
    // The month's quota used up: 429 with LINE's words.
    reqwest::Client::new()
        .post(format!("{url}/standin/quota"))
        .json(&json!({"limit": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(client.quota().await.unwrap(), Quota::Limited(1));
    let e = client
        .push(FRIEND, &hello(), "123e4567-e89b-12d3-a456-426614174002")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("monthly limit"), "{e}");
    // LINE itself down: unavailable, never a panic.
    let gone = MessagingClient::new("http://127.0.0.1:9", TOKEN).unwrap();
    assert!(matches!(
        gone.quota().await,
        Err(ApiError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn profiles_and_rich_menus() {
    let (standin, url) = standin().await;
    let client = MessagingClient::new(&url, TOKEN).unwrap();
    assert_eq!(client.quota().await.unwrap(), Quota::Unlimited);
    let p = client.profile(FRIEND).await.unwrap();
    assert_eq!(
        (p.display_name.as_str(), p.language.as_deref()),
        ("山田 花子", Some("ja"))
    );
    assert!(
        !format!("{p:?}").contains("山田"),
        "a profile is never printed"
    );
    // Only friends have a profile.
    assert!(matches!(
        client.profile(STRANGER).await,
        Err(ApiError::Refused { status: 404, .. })
    ));
    let menu = "richmenu-88c05ef6921ae53f8b58a25f3a65faf7";
    client.link_rich_menu(FRIEND, menu).await.unwrap();
    assert_eq!(standin.record().rich_menus[FRIEND], menu);
    assert!(matches!(
        client.link_rich_menu(FRIEND, "not-a-menu").await,
        Err(ApiError::Refused { status: 400, .. })
    ));
    client.unlink_rich_menu(FRIEND).await.unwrap();
    assert!(standin.record().rich_menus.is_empty());
}
