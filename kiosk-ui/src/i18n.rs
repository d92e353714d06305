//! The screens' words: Japanese first, English at a tap.

/// The language shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    pub fn toggled(self) -> Lang {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }
}

/// Every fixed text of the screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    /// The language button: names the *other* language.
    OtherLanguage,
    AttractTitle,
    AttractSteps,
    AttractNoTyping,
    ValidFor,
    Renewing,
    Connecting,
    OfflineNote,
    CardLinkTitle,
    CardLinkSteps,
    CardLinkCard,
    WelcomeTitle,
    LinkedTitle,
    MemberNumber,
    FirstStamp,
    Stamps,
    FindCard,
    Done,
    Back,
    ExpiredSignup,
    ExpiredCardLink,
    AgentUnreachableTitle,
    AgentUnreachableText,
    RefusedTitle,
    RefusedText,
    CardProblemTitle,
    AlreadyLineCard,
    Retrying,
    // Counter
    CounterTitle,
    ScanPrompt,
    Tier,
    Points,
    Expiring,
    Coupons,
    NoCoupons,
    ToNextTier,
    TopTier,
    Provisional,
    Rejected,
    SaleAmount,
    RedeemPoints,
    Confirm,
    Recording,
    Earned,
    Redeemed,
    Discount,
    StampsEarned,
    CouponsIssued,
    BalanceAfter,
    Online,
    Offline,
    Standalone,
    PendingEvents,
    StreamDown,
    NewSale,
    SaleFailed,
    AmountInvalid,
    RedeemInvalid,
    // A member's wish, at the counter and the kiosk
    NotifyMe,
    WishProduct,
    WishSending,
    WishRecorded,
    WishFailed,
    WishHint,
    WishAsk,
}

/// The text of `msg` in `lang`.
pub fn tr(lang: Lang, msg: Msg) -> &'static str {
    let (ja, en) = pair(msg);
    match lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

fn pair(msg: Msg) -> (&'static str, &'static str) {
    use Msg::*;
    match msg {
        OtherLanguage => ("English", "日本語"),
        AttractTitle => ("LINEで会員登録", "Join with LINE"),
        AttractSteps => (
            "スマートフォンのLINEでこのQRコードを読み取ってください",
            "Scan this QR code with LINE on your phone",
        ),
        AttractNoTyping => (
            "ここでの入力は不要です。会員証はLINEに届きます",
            "Nothing to type here: your member card arrives in LINE",
        ),
        ValidFor => ("有効期限 あと", "Valid for"),
        Renewing => ("新しいQRコードを表示しています…", "Showing a new QR code…"),
        Connecting => ("準備しています…", "Getting ready…"),
        OfflineNote => (
            "店舗の回線が切れています。登録はスマートフォンの通信でそのまま進みます",
            "The store is offline: you can still join, your phone's connection is used",
        ),
        CardLinkTitle => ("カードをLINEに連携", "Link your card to LINE"),
        CardLinkSteps => (
            "LINEでこのQRコードを読み取ると、ポイントとスタンプはそのまま引き継がれます",
            "Scan this code with LINE: your points and stamps stay with the card",
        ),
        CardLinkCard => ("カード", "Card"),
        WelcomeTitle => ("ようこそ！", "Welcome!"),
        LinkedTitle => ("連携しました", "Card linked"),
        MemberNumber => ("会員番号", "Member number"),
        FirstStamp => (
            "ご登録スタンプを押しました",
            "Your first stamp is on the card",
        ),
        Stamps => ("スタンプ", "Stamps"),
        FindCard => (
            "会員証はLINEのトーク画面のメニュー「会員証」からいつでも表示できます",
            "Your card is in LINE: open the chat's menu and tap \"Member card\"",
        ),
        Done => ("おわる", "Done"),
        Back => ("もどる", "Back"),
        ExpiredSignup => ("QRコードの有効期限が切れました", "This QR code has expired"),
        ExpiredCardLink => (
            "時間切れです。もう一度カードをスキャンしてください",
            "Time is up: scan your card again",
        ),
        AgentUnreachableTitle => ("ただいま準備中です", "Not available right now"),
        AgentUnreachableText => (
            "この端末のサービスに接続できません。スタッフにお声がけください",
            "This kiosk cannot reach the store terminal: please ask the staff",
        ),
        RefusedTitle => ("ただいま登録できません", "Signup is not available"),
        RefusedText => (
            "スタッフにお声がけください（設定を確認してください）",
            "Please ask the staff (the terminal's setup needs checking)",
        ),
        CardProblemTitle => ("このカードは連携できません", "This card cannot be linked"),
        AlreadyLineCard => (
            "これはLINEの会員証です。連携は不要です",
            "This is already a LINE member card: nothing to link",
        ),
        Retrying => ("自動で再接続します…", "Trying again automatically…"),
        CounterTitle => ("レジ", "Counter"),
        ScanPrompt => (
            "会員証をスキャンしてください",
            "Scan the customer's member card",
        ),
        Tier => ("ランク", "Tier"),
        Points => ("ポイント", "Points"),
        Expiring => ("失効予定", "Expiring"),
        Coupons => ("クーポン", "Coupons"),
        NoCoupons => ("クーポンなし", "No coupons"),
        ToNextTier => ("次のランクまで", "To the next tier"),
        TopTier => ("最上位ランクです", "Top tier"),
        Provisional => ("仮会員（本部未確認）", "Provisional (not yet confirmed)"),
        Rejected => ("読み取れないカード", "Card refused"),
        SaleAmount => ("お会計（円）", "Sale amount (yen)"),
        RedeemPoints => ("利用ポイント", "Points to redeem"),
        Confirm => ("確定", "Confirm"),
        Recording => ("記録しています…", "Recording…"),
        Earned => ("獲得ポイント", "Points earned"),
        Redeemed => ("利用ポイント", "Points redeemed"),
        Discount => ("値引き", "Discount"),
        StampsEarned => ("スタンプ", "Stamps earned"),
        CouponsIssued => ("発行クーポン", "Coupons issued"),
        BalanceAfter => ("残高", "Balance"),
        Online => ("本部と接続中", "Online"),
        Offline => ("オフライン", "Offline"),
        Standalone => ("単独運用", "Standalone"),
        PendingEvents => ("未送信", "Pending sync"),
        StreamDown => (
            "スキャナーの通知に接続できません",
            "Not receiving scans from the terminal",
        ),
        NewSale => ("次のお客様", "Next customer"),
        SaleFailed => ("記録できませんでした", "Not recorded"),
        AmountInvalid => ("金額を入力してください", "Enter the amount"),
        RedeemInvalid => (
            "利用ポイントが残高を超えています",
            "More points than the balance",
        ),
        NotifyMe => ("入荷お知らせ", "Notify me when back"),
        WishProduct => ("商品", "Product"),
        WishSending => ("登録しています…", "Recording…"),
        WishRecorded => (
            "入荷したらお知らせします",
            "We will send a notice when it is back",
        ),
        WishFailed => (
            "お知らせを登録できませんでした",
            "The notice was not recorded",
        ),
        WishHint => (
            "商品のバーコードをスキャンすると、入荷をお知らせします",
            "Scan a product's barcode to hear when it is back in stock",
        ),
        WishAsk => (
            "この商品が入荷したらお知らせしますか？",
            "Shall we tell you when this product is back?",
        ),
    }
}

// Yen and points with thousands separators: the same words as the hub's LINE messages.
pub use tenpo_protocol::display::{group, yen};

/// What the countdown shows: whole minutes while more than one is left ("あと 5分"), then
/// `0:ss`. The screen is drawn again only when this text changes.
pub fn time_left(lang: Lang, secs: i64) -> String {
    let label = tr(lang, Msg::ValidFor);
    if secs > 60 {
        let minutes = (secs + 59) / 60;
        match lang {
            Lang::Ja => format!("{label} {minutes}分"),
            Lang::En => format!("{label} {minutes} min"),
        }
    } else {
        format!("{label} {}", countdown(secs))
    }
}

/// `m:ss` of a number of seconds.
pub fn countdown(secs: i64) -> String {
    let secs = secs.max(0);
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(yen(1_234_567), "¥1,234,567");
        assert_eq!(yen(0), "¥0");
        assert_eq!(group(-1000), "-1,000");
        assert_eq!(countdown(299), "4:59");
        assert_eq!(countdown(-3), "0:00");
        assert_eq!(time_left(Lang::Ja, 300), "有効期限 あと 5分");
        assert_eq!(time_left(Lang::En, 61), "Valid for 2 min");
        assert_eq!(time_left(Lang::Ja, 60), "有効期限 あと 1:00");
        assert_eq!(tr(Lang::Ja, Msg::OtherLanguage), "English");
        assert_eq!(Lang::Ja.toggled(), Lang::En);
    }
}
