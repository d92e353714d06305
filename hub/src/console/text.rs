//! Every word the console shows, in Japanese (the default) and English: one dictionary, keyed by
//! [`T`]. Values (a name, a time, a number) are never formatted into these strings: a page puts
//! them beside the words, so both languages stay plain text and nothing is escaped twice.

/// The language of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    /// The `lang` attribute and cookie value.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// `ja` or `en` (exactly); anything else is `None`.
    pub fn parse(text: &str) -> Option<Lang> {
        match text {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language a page offers to switch to.
    pub fn other(self) -> Lang {
        match self {
            Lang::Ja => Lang::En,
            Lang::En => Lang::Ja,
        }
    }

    /// The language's own name (what the switch link says).
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::Ja => "日本語",
            Lang::En => "English",
        }
    }

    /// The words of `key` in this language.
    pub fn t(self, key: T) -> &'static str {
        match self {
            Lang::Ja => key.ja(),
            Lang::En => key.en(),
        }
    }
}

macro_rules! dictionary {
    ($($key:ident => $ja:literal, $en:literal;)*) => {
        /// A phrase of the console.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum T { $($key,)* }

        impl T {
            /// Every phrase (the tests check each has both languages).
            pub const ALL: &'static [T] = &[$(T::$key,)*];

            pub fn ja(self) -> &'static str {
                match self { $(T::$key => $ja,)* }
            }

            pub fn en(self) -> &'static str {
                match self { $(T::$key => $en,)* }
            }
        }
    };
}

dictionary! {
    AppTitle => "tenpo コンソール", "tenpo console";
    NavHome => "ホーム", "Home";
    NavMembers => "会員", "Members";
    NavTerminals => "端末", "Terminals";
    NavReview => "確認待ち", "Review";
    NavProgram => "プログラム", "Program";
    NavReports => "レポート", "Reports";
    NavAudit => "監査ログ", "Audit log";
    SignIn => "サインイン", "Sign in";
    SignOut => "サインアウト", "Sign out";
    Name => "名前", "Name";
    Password => "パスワード", "Password";
    SignInWrong => "名前またはパスワードが違います。", "Wrong name or password.";
    SignInLocked => "失敗が続いたため、このアカウントはロックされています。次の時刻以降にもう一度お試しください:", "This account is locked after repeated wrong passwords. Try again after:";
    SessionExpired => "セッションの有効期限が切れました。もう一度サインインしてください。", "Your session has expired. Please sign in again.";
    SignedOut => "サインアウトしました。", "You are signed out.";
    SignInFormStale => "サインインのフォームが古くなっています。もう一度入力してください。", "The sign-in form was out of date. Please enter your name and password again.";
    ErrForbidden => "この操作の権限がありません", "You cannot do this";
    ErrForbiddenNeeds => "必要なロール:", "It needs the role:";
    ErrForbiddenYours => "あなたのロール:", "Your role:";
    ErrCsrf => "フォームを確認できませんでした", "This form could not be verified";
    ErrCsrfText => "フォームの確認トークンがないか、一致しません。ページを開き直してから、もう一度送信してください。", "The form's check token is missing or does not match. Open the page again, then send the form again.";
    ErrNotFound => "見つかりません", "Not found";
    ErrNotFoundText => "このページはありません。", "There is no such page.";
    ErrBadRequest => "リクエストを読み取れません", "The request cannot be read";
    ErrTooLarge => "送信された内容が大きすぎます (上限 1 MiB)。", "What was sent is too large (at most 1 MiB).";
    ErrUnavailable => "データベースに接続できません。しばらくしてからもう一度お試しください。", "The hub cannot reach its database just now. Try again in a little while.";
    ErrInternal => "ハブでエラーが発生しました。詳細はハブのログにあります。", "The hub failed while handling this. Its log says why.";
    ErrRefused => "実行できませんでした", "This was refused";
    NothingChanged => "何も変更していません。", "Nothing was changed.";
    BackHome => "コンソールのホームへ", "To the console's home";
    SignedInAs => "サインイン中:", "Signed in as";
    Role => "ロール", "Role";
    Counts => "概要", "Overview";
    Members => "会員数", "Members";
    Terminals => "端末数", "Terminals";
    Stores => "店舗数", "Stores";
    Events => "受信したイベント", "Events received";
    EventsWaiting => "順番待ちのイベント", "Events waiting for a gap";
    Conflicts => "競合", "Conflicts";
    Discrepancies => "差異", "Discrepancies";
    Held => "保留中の結果", "Outcomes held back";
    RuleSetVersion => "ルールセットのバージョン", "Rule set version";
    MessagesPending => "送信待ちのメッセージ", "Messages waiting to be sent";
    SearchLabel => "カードコードまたは会員番号", "Card code or member number";
    Search => "検索", "Search";
    SearchBlank => "カードコードか会員番号を入力してください。", "Enter a card code or a member number.";
    SearchNobody => "このコードの会員はいません:", "No member has this code:";
    SearchRevoked => "このカードコードは無効化されています:", "This card code was revoked:";
    WasMember => "無効化前の会員:", "It named the member:";
    RevokedAt => "無効化日時:", "Revoked at:";
    MemberNumber => "会員番号", "Member number";
    MemberId => "会員 ID", "Member id";
    Codes => "カードコード", "Card codes";
    RevokedCodes => "無効化したコード", "Revoked codes";
    HomeStore => "ホーム店舗", "Home store";
    MemberSince => "登録日時", "Member since";
    Tier => "ティア", "Tier";
    ToNextTier => "次のティアまで", "To the next tier";
    TopTier => "最上位のティアです", "The top tier";
    QualifyingSpend => "対象のお買い上げ額", "Qualifying spend";
    Balance => "ポイント残高", "Points balance";
    Lots => "ポイントの内訳と有効期限", "Points by lot, with expiry";
    Lot => "ロット", "Lot";
    EarnedOn => "付与日", "Earned on";
    ExpiresOn => "有効期限", "Expires on";
    Points => "ポイント", "Points";
    Stamps => "スタンプ", "Stamps";
    Coupons => "クーポン", "Coupons";
    Coupon => "クーポン ID", "Coupon id";
    Benefit => "特典", "Benefit";
    Valid => "有効期間", "Valid";
    DiscountYen => "値引き (円)", "Discount (yen)";
    BonusPoints => "ボーナスポイント", "Bonus points";
    None => "なし", "None";
    NoRules => "ルールセットが読み込まれていません。", "No rule set is loaded.";
    History => "履歴 (全店舗)", "History (every store)";
    Time => "日時", "Time";
    Kind => "種類", "Kind";
    Store => "店舗", "Store";
    Terminal => "端末", "Terminal";
    Yen => "金額", "Yen";
    Earned => "付与", "Earned";
    Redeemed => "利用", "Redeemed";
    RulesVersionShort => "ルール版", "Rules";
    StaffReason => "担当者と理由", "Staff and reason";
    Status => "状態", "Status";
    Older => "さらに古い履歴", "Older entries";
    Newest => "最新に戻る", "Back to the newest";
    Line => "LINE 連携", "LINE link";
    Linked => "連携済み", "Linked";
    NotLinked => "連携していません", "Not linked";
    Following => "友だち追加済み", "Follows the official account";
    Blocked => "ブロック中", "Has blocked the official account";
    FriendshipUnknown => "友だち状態は未確認", "Friendship not seen yet";
    Messages => "送信したメッセージ", "Messages sent";
    Scenario => "シナリオ", "Scenario";
    State => "状態", "State";
    Wishes => "入荷・値下げ通知の希望", "Wishes";
    Item => "商品", "Item";
    AuditEntries => "この会員の監査ログ", "This member's audit log";
    Actions => "操作", "Actions";
    Reason => "理由 (必須)", "Reason (required)";
    AdjustPoints => "ポイントを調整", "Adjust points";
    AdjustHelp => "減らすときはマイナスで入力します。残高は 0 未満になりません。", "Enter a negative number to take points. The balance never goes below zero.";
    ReplaceCard => "紛失したカードを交換", "Replace a lost card";
    ReplaceHelp => "新しいカードがすべてを引き継ぎ、古いカードは無効になります。", "The new card takes everything; the old one is revoked.";
    OldCode => "古いカードコード", "Old card code";
    NewCode => "新しいカードコード", "New card code";
    UnlinkLine => "LINE 連携を解除", "Unlink LINE";
    IssueCoupon => "クーポンを発行", "Issue a coupon";
    ValidDays => "有効日数", "Valid for days";
    CouponIdOptional => "クーポン ID (任意)", "Coupon id (optional)";
    Amount => "値", "Amount";
    Submit => "実行", "Do it";
    DoneAdjust => "ポイントを調整しました。", "Points adjusted.";
    DoneReplace => "カードを交換しました。古いカードは無効になりました。", "Card replaced; the old card is revoked.";
    DoneUnlink => "LINE 連携を解除しました。", "LINE unlinked.";
    DoneCoupon => "クーポンを発行しました。", "Coupon issued.";
    DoneErase => "会員の個人データを消去しました。売上とポイントの記録は匿名で残ります。", "The member's personal data was erased; the sales and points stay, anonymous.";
    MemberData => "会員本人のデータ", "The member's own data";
    DownloadData => "データをダウンロード", "Download their data";
    DownloadHelp => "ハブが保持するこの会員のすべてのデータを JSON で渡します (会員本人の求めに応じて)。", "Everything the hub holds about this member, as JSON, for the member who asks.";
    IdentityChecked => "本人確認をしました (身分証など)", "I checked who is asking (ID or the like)";
    EraseMember => "会員を消去", "Erase the member";
    EraseHelp => "個人データ、LINE 連携、カードを消します。売上とポイントの記録は匿名で残ります。元に戻せません。", "Removes their personal data, LINE link and cards; the sales and points stay, anonymous. This cannot be undone.";
    EraseForfeits => "保有ポイントは規約により失効します。", "Their points are forfeited, as the terms say.";
    EraseKeepsPoints => "保有ポイントは匿名の台帳に残ります。", "Their points stay on the anonymous ledger.";
    ConfirmNumber => "確認のため会員番号を入力", "Type the member number to confirm";
    NotConfirmed => "本人確認のチェックと会員番号の入力が必要です。", "Tick that you checked who is asking, and type the member number.";
    Erased => "この会員の個人データは消去済みです:", "This member's personal data was erased:";
    DoneResolved => "保留中の結果を処理しました。", "The held outcome was decided.";
    DoneLoaded => "ルールセットを読み込みました。端末には変更フィードで届きます。", "Rule set loaded; terminals get it through the change feed.";
    AlreadyIssued => "この会員にはこのクーポン ID が発行済みです。", "This member already had a coupon with this id.";
    NotANumber => "数値を入力してください:", "Enter a number:";
    Version => "バージョン", "Version";
    LastSeen => "最終接続", "Last seen";
    Waiting => "未送信のイベント", "Events waiting";
    Mark => "受信済みの位置", "Acknowledged through";
    ClockSkew => "時計のずれ", "Clock skew";
    Quarantined => "隔離", "Quarantined";
    Never => "未接続", "never";
    Stale => "15 分以上接続がありません", "Not seen for over 15 minutes";
    Skewed => "時計が 60 秒以上ずれています", "Clock off by over 60 seconds";
    NoTerminals => "登録された端末はありません。", "No terminal is enrolled.";
    Seconds => "秒", "s";
    First => "先に受け取った内容", "Held first";
    Second => "後から届いた内容", "Came later";
    Till => "端末の結果", "Till's outcome";
    Hub => "ハブの再計算", "Hub's evaluation";
    Detail => "詳細", "Detail";
    Class => "分類", "Class";
    Release => "適用する", "Release";
    Dismiss => "適用しない", "Dismiss";
    NoneOpen => "ありません。", "None.";
    Sale => "売上", "Sale";
    NavMessaging => "メッセージ", "Messaging";
    LineAccount => "LINE 公式アカウント", "LINE official account";
    Sending => "送信中", "Sending";
    On => "オン", "on";
    Off => "オフ", "off";
    OffNoToken => "オフ (アクセストークンが設定されていません)", "off (no access token is set)";
    Quota => "今月の残り通数", "This month's messages left";
    Unlimited => "上限なし", "unlimited";
    Left => "残り", "left";
    NotReadYet => "まだ読み取っていません", "not read yet";
    Rate => "送信速度", "Sending rate";
    Reserve => "残りがこの割合を下回るとお知らせは待機", "Store news waits when less than this share is left";
    MarketingPerWeek => "お知らせの上限 (会員ごと、7 日間)", "Store news per member in any 7 days, at most";
    QuietHours => "送信しない時間帯", "Quiet hours";
    Outbox => "送信待ちの箱", "Outbox";
    Pending => "待機中", "Waiting";
    Sent => "送信済み", "Sent";
    Failed => "失敗", "Failed";
    Unreachable => "届かない (ブロック)", "Unreachable (blocked)";
    ExpiredMessages => "期限切れ", "Expired";
    Scenarios => "シナリオ", "Scenarios";
    Setting => "設定", "Setting";
    WithinYen => "次のティアまで", "Within";
    DaysBefore => "失効の日数前", "Days before expiry";
    MinPoints => "最小ポイント", "at least points";
    Preview => "プレビュー", "Preview";
    PreviewHelp => "会員に今このシナリオが送る内容を、その会員の言語で表示します。何も送信・記録しません。", "What the scenario would send the member now, in their language. Nothing is sent or written.";
    Language => "言語", "Language";
    MessageNo => "メッセージ", "Message";
    AsSentToLine => "LINE に送る形式 (JSON)", "As sent to LINE (JSON)";
    KindRefund => "返品", "Refund";
    KindWish => "入荷・値下げ通知の希望", "Wish";
    KindProvisional => "仮会員の登録", "Provisional member";
    KindLoadRules => "ルールセットの読み込み", "Rule set loaded";
    KindRelease => "保留中の結果を適用", "Held outcome released";
    KindDismiss => "保留中の結果を不適用", "Held outcome dismissed";
    KindLocked => "ロック (パスワードの失敗)", "Locked (wrong passwords)";
    Member => "会員", "Member";
    CurrentRules => "現在のルールセット", "The current rule set";
    RuleName => "名前", "Name";
    YenPerPoint => "1 ポイントあたりの金額 (円)", "Yen per point";
    TierLevels => "ティア", "Tiers";
    CardSize => "スタンプカードの枠数", "Stamps per card";
    ExpiryMonths => "ポイントの有効期間 (月)", "Points expire after (months)";
    Campaigns => "キャンペーン数", "Campaigns";
    Compare => "バージョンを比較", "Compare versions";
    From => "比較元", "From";
    To => "比較先", "To";
    NoDifference => "違いはありません。", "No difference.";
    LoadRules => "新しいルールセットを読み込む (TOML)", "Load a new rule set (TOML)";
    Load => "検証して読み込む", "Check and load";
    RulesInvalid => "ルールセットに誤りがあります。何も読み込んでいません:", "The rule set has an error; nothing was loaded:";
    AsOf => "集計時刻:", "As of:";
    BeingComputed => "レポートを集計中です。しばらくしてからページを開き直してください。", "The reports are being computed. Open this page again in a little while.";
    ReportFailed => "前回の集計に失敗しました:", "The last computation failed:";
    SignupsPerDay => "店舗別・日別の新規登録 (過去 30 日)", "Signups per store per day (last 30 days)";
    LineShare => "LINE 連携している会員の割合", "Share of members linked to LINE";
    LinkedToLine => "連携あり", "Linked";
    NotLinkedToLine => "連携なし", "Not linked";
    MembersPerTier => "ティア別の会員数", "Members per tier";
    PointsPerMonth => "月別のポイント (付与・利用・失効)", "Points per month: issued, redeemed, expired";
    PointsCounted => "付与は売上の付与ポイントと調整による追加から返品で取り消した分を引いたもの、利用は売上で使ったポイントから返品で戻した分と調整による減算を含むもの、失効は有効期限を過ぎても残っていたポイント (ロットごと、期限の月) です。", "Issued: points sales earned and adjustments added, less what refunds took back. Redeemed: points used on sales, less what refunds gave back, plus what adjustments took. Expired: points still in a lot when its last day passed, in that month.";
    Issued => "付与", "Issued";
    Expired => "失効", "Expired";
    Funnel => "通知のファネル (過去 12 週)", "Notification funnel (last 12 weeks)";
    SentCount => "送信", "Sent";
    Delivered => "配信", "Delivered";
    Clicked => "クリック", "Clicked";
    Bought => "購入", "Bought";
    Conversion => "購入率", "Conversion";
    DownloadCsv => "CSV をダウンロード", "Download CSV";
    Day => "日付", "Day";
    Month => "月", "Month";
    Count => "件数", "Count";
    NoData => "データがありません。", "No data yet.";
    AuditLog => "監査ログ", "Audit log";
    Action => "操作", "Action";
    Who => "担当者", "Who";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phrase_has_both_languages() {
        for key in T::ALL {
            assert!(!key.ja().trim().is_empty(), "{key:?} has no Japanese");
            assert!(!key.en().trim().is_empty(), "{key:?} has no English");
            // No placeholders: values go beside the words, never into them.
            assert!(
                !key.ja().contains('{') && !key.en().contains('{'),
                "{key:?}"
            );
        }
    }

    #[test]
    fn japanese_is_the_default_and_languages_parse_exactly() {
        assert_eq!(Lang::default(), Lang::Ja);
        assert_eq!(Lang::parse("en"), Some(Lang::En));
        assert_eq!(Lang::parse("ja"), Some(Lang::Ja));
        assert_eq!(Lang::parse("EN"), None);
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::Ja.other(), Lang::En);
        assert_eq!(Lang::En.t(T::SignIn), "Sign in");
        assert_eq!(Lang::Ja.t(T::SignIn), "サインイン");
    }
}
