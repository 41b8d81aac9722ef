//! Japanese texts for notes, referrals, meetings, plans and consents, rendered from templates
//! with variables. Every text is drawn from a generator seeded by the plan, so re-rendering a
//! note (to correct it) gives the same body, except for the slip the correction fixes.

use kasane_domain::vocab::{ConsentMethod, MeetingKind, SupportKind};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::names::Gender;
use super::plan::{NoteKind, Profile};
use super::town::Unit;

/// A text generator; `fix` renders the corrected version of a note.
pub(crate) struct Txt {
    rng: ChaCha8Rng,
    fix: bool,
}

impl Txt {
    pub(crate) fn new(seed: u64) -> Self {
        Txt {
            rng: ChaCha8Rng::seed_from_u64(seed),
            fix: false,
        }
    }
    pub(crate) fn corrected(seed: u64) -> Self {
        Txt {
            rng: ChaCha8Rng::seed_from_u64(seed),
            fix: true,
        }
    }
    pub(crate) fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs.choose(&mut self.rng).expect("non-empty")
    }
    fn n(&mut self, lo: i32, hi: i32) -> i32 {
        self.rng.random_range(lo..=hi)
    }
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }
    /// A number the author got wrong at first: the correction shows it `delta` off.
    fn slip_n(&mut self, lo: i32, hi: i32, delta: i32) -> i32 {
        let v = self.n(lo, hi);
        if self.fix { v + delta } else { v }
    }
    /// A word the author got wrong at first: the correction shows the next one in the list.
    fn slip_pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        let i = self.rng.random_range(0..xs.len());
        if self.fix {
            xs[(i + 1) % xs.len()]
        } else {
            xs[i]
        }
    }
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.rng.random_range(lo..=hi)
    }
}

/// What note texts may say about the person.
pub(crate) struct Subject<'a> {
    pub profile: Profile,
    pub gender: Gender,
    pub kin: &'a str,
    pub dementia: bool,
}

impl Subject<'_> {
    fn kin(&self) -> &str {
        if self.kin.is_empty() {
            "家族"
        } else {
            self.kin
        }
    }
    fn elderly(&self) -> bool {
        matches!(self.profile, Profile::ElderlyCare | Profile::ElderlySupport)
    }
    fn child(&self) -> bool {
        matches!(self.profile, Profile::Child | Profile::ChildDisability)
    }
}

const ELDER_QUOTES: &[&str] = &[
    "家で暮らし続けたい",
    "ヘルパーさんが来てくれると安心する",
    "最近足が重くて外に出るのがおっくう",
    "夜になると眠れない",
    "子どもには迷惑をかけたくない",
    "一人でも大丈夫",
    "桜の季節には花見に行きたい",
    "もう一度畑に出たい",
    "食事がおいしくない",
    "施設には入りたくない",
];

const WISHES_ELDER: &[&str] = &[
    "最期までこの家で暮らしたい",
    "もう一度自分の足で近所のスーパーに行きたい",
    "孫の結婚式に出たい",
    "庭の手入れを続けたい",
    "病院には入りたくない。できるだけ家にいたい",
    "友達とお茶を飲む時間がほしい",
];

const WISHES_YOUNG: &[&str] = &[
    "いつかは働きたいが、今はまだ自信がない",
    "人と会うのは疲れるが、同じような人となら話してみたい",
    "親がいなくなった後のことが心配",
    "子どもとの時間をもっとつくりたい",
    "借金を片付けて、落ち着いて暮らしたい",
    "自分のペースで働ける場所を探したい",
    "少しでいいから自分の時間がほしい",
];

const WISHES_CHILD: &[&str] = &[
    "友達と一緒に遊びたい",
    "学校の給食が楽しみ",
    "サッカーを習ってみたい",
    "お母さんに元気になってほしい",
    "放課後に行ける場所がほしい",
];

fn elder_condition(t: &mut Txt) -> &'static str {
    t.pick(&[
        "全身状態は安定",
        "倦怠感の訴えあり",
        "食思不振が続いている",
        "膝関節痛の訴えあり",
        "夜間の咳嗽が増えている",
        "下肢浮腫は軽減",
        "物忘れの進行を家族が心配している",
    ])
}

/// The body of a note of `kind` about `s`.
pub(crate) fn note_body(kind: NoteKind, s: &Subject<'_>, t: &mut Txt) -> String {
    use NoteKind::*;
    let kin = s.kin().to_owned();
    match kind {
        HelperVisit => {
            let service = t.pick(&["生活援助", "身体介護", "身体介護・生活援助"]);
            let tasks = t.pick(&[
                "昼食の調理と掃除",
                "買い物代行と調理",
                "入浴介助と更衣",
                "排泄介助と清拭",
                "洗濯と居室の掃除",
                "配下膳と服薬の声かけ",
            ]);
            let intake = t.slip_pick(&["全量", "8割程度", "半分程度", "3割程度"]);
            let room = t.pick(&[
                "室内は整理されている。",
                "台所に食べかけの食品が残っていた。",
                "冷蔵庫に賞味期限切れの食品が複数あり、本人と確認のうえ処分した。",
                "洗濯物がたまっていた。",
                "室温が低かったため、エアコンを入れた。",
                "郵便物がたまっていたため、本人と一緒に確認した。",
            ]);
            let mood = t.pick(&["穏やか", "明るい", "やや疲れた様子", "硬い"]);
            let quote = if t.chance(0.4) {
                format!("本人より『{}』との発言あり。", t.pick(ELDER_QUOTES))
            } else if s.dementia && t.chance(0.5) {
                "同じ話を繰り返す場面があったが、穏やかに会話できた。".to_owned()
            } else {
                String::new()
            };
            let next = t.pick(&["明後日", "来週月曜", "来週水曜", "週明け"]);
            format!(
                "訪問（{service}）。{tasks}を実施。昼食は{intake}摂取。{room}表情は{mood}。{quote}次回は{next}の予定。"
            )
        }
        NurseVisit => {
            let bt = format!("36.{}", t.n(2, 9));
            let sys = t.slip_n(108, 158, 10);
            let dia = t.n(58, 92);
            let pulse = t.n(58, 92);
            let spo2 = t.n(93, 99);
            let findings = [
                "下肢に軽度の浮腫あり。",
                "仙骨部の発赤は改善傾向。",
                "呼吸音清明、副雑音なし。",
                "水分摂取が少なめのため、こまめな水分補給を説明。",
                "夜間の睡眠は5時間程度とのこと。",
            ];
            let f1 = t.pick(&findings);
            let f2 = match t.n(0, 3) {
                0 => format!("排便{}日なし、腹部マッサージを実施。", t.n(2, 4)),
                1 => format!(
                    "服薬カレンダーの残数から、{}の飲み忘れが{}回あり。",
                    t.pick(&["昼", "夕"]),
                    t.n(1, 3)
                ),
                2 => format!("食欲は{}。", t.pick(&["良好", "やや低下", "低下"])),
                _ => "入浴介助を実施し、皮膚状態を観察した。".to_owned(),
            };
            let close = t.pick(&["主治医へ報告済み。", "経過観察とする。", "次回訪問時に再評価する。"]);
            format!("定期訪問。BT {bt}℃、BP {sys}/{dia}mmHg、P {pulse}回/分、SpO2 {spo2}%。{f1}{f2}{close}")
        }
        DoctorVisit => {
            let cond = elder_condition(t);
            let sys = t.slip_n(112, 160, -10);
            let dia = t.n(60, 90);
            let rx = t.pick(&[
                "処方変更なし",
                "降圧薬を減量",
                "便秘薬を追加",
                "睡眠薬を中止し経過観察",
                "鎮痛薬を頓用で追加",
            ]);
            let next = t.pick(&[
                "次回は2週間後。",
                "採血結果は次回説明する。",
                "状態変化時は訪問看護から連絡をお願いします。",
            ]);
            format!("訪問診療。{cond}。BP {sys}/{dia}。{rx}。{next}")
        }
        DoctorOutpatient => {
            let kind = t.pick(&["定期受診", "予約外受診"]);
            let hba1c = format!("{}.{}", t.n(5, 8), t.n(0, 9));
            let sys = t.slip_n(112, 162, -10);
            let dia = t.n(60, 92);
            let comment = if s.elderly() {
                elder_condition(t).to_owned()
            } else {
                t.pick(&[
                    "不眠の訴えが続いている",
                    "体重が3か月で4kg減少",
                    "飲酒量が増えているとのこと",
                    "腰痛のため就労が難しいとの訴え",
                    "状態は安定",
                ])
                .to_owned()
            };
            let plan = t.pick(&[
                "処方継続。",
                "生活習慣について指導。",
                "専門医療機関への紹介を検討。",
                "次回採血予定。",
            ]);
            format!("外来（{kind}）。{comment}。HbA1c {hba1c}%、BP {sys}/{dia}。{plan}")
        }
        PediatricVisit => {
            if s.profile == Profile::ChildDisability {
                let obs = t.pick(&[
                    "言葉の理解は伸びているが、表出はまだ二語文程度",
                    "集団の中で指示が通りにくい場面がある",
                    "感覚過敏があり、大きな音を嫌がる",
                    "こだわりが強く、予定の変更で混乱しやすい",
                ]);
                let advice = t.pick(&[
                    "学校と療育で同じ声かけを使うよう助言",
                    "視覚的なスケジュール提示を提案",
                    "作業療法の継続を勧めた",
                    "保護者の休息の確保についても話し合った",
                ]);
                let months = t.n(1, 3);
                format!("発達外来受診。{obs}。{advice}。次回は{months}か月後。")
            } else {
                let reason = t.pick(&["風邪症状", "喘息の経過観察", "予防接種", "腹痛の訴え", "皮膚炎"]);
                let weight = t.slip_n(14, 38, 2);
                let note = t.pick(&[
                    "保護者の付き添いなし、祖母が同伴。",
                    "前回より体重の増加が少ない。",
                    "睡眠時間が短い様子。",
                    "特記事項なし。",
                ]);
                format!("小児科受診（{reason}）。体重{weight}kg。{note}")
            }
        }
        PharmacistVisit => {
            let drug = t.pick(&[
                "アムロジピン",
                "酸化マグネシウム",
                "ドネペジル",
                "メトホルミン",
                "ランソプラゾール",
            ]);
            let days = t.slip_n(2, 12, 3);
            let action = t.pick(&[
                "一包化を継続",
                "服薬カレンダーへのセットを実施",
                "お薬手帳を更新",
                "主治医へ残薬調整を提案",
            ]);
            let tail = t.pick(&[
                "飲み忘れは減少傾向。",
                "ふらつきの訴えなし。",
                "副作用の訴えなし。",
                "嚥下しにくいとのことで、剤形変更を相談予定。",
            ]);
            format!("居宅療養管理指導。残薬確認：{drug} {days}日分の残薬あり。{action}。{tail}")
        }
        CareMonitoring => {
            let services = if t.chance(0.5) {
                format!("訪問介護 週{}回、訪問看護 週{}回", t.slip_n(2, 5, 1), t.n(1, 2))
            } else {
                format!("通所介護 週{}回、訪問介護 週{}回", t.slip_n(1, 3, 1), t.n(1, 3))
            };
            let usage = if t.chance(0.7) {
                "概ね予定どおり利用".to_owned()
            } else {
                format!("体調不良で{}回キャンセルあり", t.n(1, 2))
            };
            let topic = match t.n(0, 2) {
                0 => format!(
                    "家族の介護負担について{kin}より『{}』と相談あり。",
                    t.pick(&[
                        "夜中に何度も起こされて眠れない",
                        "仕事との両立が難しくなってきた",
                        "ショートステイを使いたい",
                    ])
                ),
                1 => "本人はサービスに満足している様子。".to_owned(),
                _ => "認知機能の低下がうかがわれ、区分変更申請を検討。".to_owned(),
            };
            let plan = t.pick(&["継続", "次回の担当者会議で見直し"]);
            format!("モニタリング訪問。サービス利用状況：{services}、{usage}。{topic}ケアプランは{plan}。")
        }
        CompSupport => {
            if s.elderly() {
                let what = t.pick(&["見守り訪問", "総合相談", "権利擁護相談"]);
                let found = t.pick(&[
                    "民生委員より『最近姿を見かけない』と連絡があり訪問。本人在宅で、元気な様子。",
                    "本人はやや痩せた印象。食事は配食サービスを利用しているとのこと。",
                    "金銭管理に不安があり、日常生活自立支援事業の利用について説明。",
                    "介護保険の申請について説明し、申請書を預かった。",
                    "地域のサロン活動を紹介したところ、関心を示した。",
                    "訪問販売で高額な契約をしていたことが判明。消費生活センターと連携して対応中。",
                ]);
                format!("{what}。{found}")
            } else {
                let found = t.pick(&[
                    "世帯の高齢者の介護サービス利用状況を確認。",
                    "家族の状況について聞き取りを行った。",
                    "同居の家族への支援について関係機関と調整。",
                ]);
                format!("世帯訪問。{found}{kin}は{}。", t.pick(&["落ち着いている", "疲れた様子", "不安を口にしていた"]))
            }
        }
        LayeredOutreach => {
            let contact = t.pick(&[
                "自室から出てこなかった",
                "玄関先で5分ほど会話できた",
                "ドア越しに返事があった",
                "居間で10分ほど一緒に話せた",
                "手紙への返事を書いてくれていた",
            ]);
            let life = t.pick(&[
                "昼夜逆転の生活が続いている",
                "最近は夜間にコンビニへ出かけることがある",
                "ゲームの話題には反応がある",
                "食事は家族と別にとっている",
                "家族との会話は少ないが、穏やかに過ごしている",
            ]);
            let next = t.pick(&[
                "次回は手紙を置いてくることとした。",
                "居場所事業のチラシを渡した。",
                "次回訪問日を約束できた。",
                "本人の好きなゲームの話から関係づくりを続ける。",
            ]);
            format!("アウトリーチ訪問。{kin}と面談。本人は{contact}。{kin}によると{life}とのこと。{next}")
        }
        LayeredConsult => {
            let (issue, step) = match s.profile {
                Profile::Carer => (
                    t.pick(&[
                        "介護と育児の両立が限界に近いと本人より訴えあり",
                        "仕事を休む日が増え、収入が減っている",
                        "睡眠が十分にとれていないとのこと",
                    ]),
                    t.pick(&[
                        "ショートステイの利用についてケアマネジャーと調整する。",
                        "保育所の一時預かりを案内した。",
                        "家計の状況を確認し、社協の相談窓口を紹介した。",
                    ]),
                ),
                _ => (
                    t.pick(&[
                        "複数の課題（家計、健康、家族関係）が絡み合っている",
                        "これまで相談先につながっていなかった",
                        "関係機関ごとに把握している情報にずれがある",
                    ]),
                    t.pick(&[
                        "関係機関の役割分担を整理し、支援プランの案を作成する。",
                        "次回、関係機関で集まり方針を確認する。",
                        "本人の同意を得て、関係機関に情報を共有する。",
                    ]),
                ),
            };
            let how = t.pick(&["来所相談", "電話相談", "訪問相談"]);
            format!("{how}。{issue}。{step}")
        }
        CouncilConsult => match s.profile {
            Profile::ElderlyCare | Profile::ElderlySupport => {
                let amount = t.slip_n(2, 8, 1);
                format!(
                    "日常生活自立支援事業の定期訪問。生活費{amount}万円を手渡し、通帳残高を本人と確認。{}",
                    t.pick(&["公共料金の支払いは済んでいる。", "訪問販売の被害はない様子。", "収支は安定している。"])
                )
            }
            Profile::Withdrawn => format!(
                "就労準備支援の面談。{}。{}",
                t.pick(&[
                    "本人が初めて来所できた",
                    "作業体験に1日参加できた",
                    "面談の途中で疲れてしまい、30分で終了した",
                    "履歴書の書き方を一緒に確認した",
                ]),
                t.pick(&["次回は2週間後。", "無理のないペースで継続する。", "本人の希望で次回は自宅で面談する。"])
            ),
            _ => {
                let what = t.pick(&["面談", "電話相談", "同行支援"]);
                let money = match t.n(0, 2) {
                    0 => format!("家賃を{}か月滞納", t.slip_n(1, 4, 1)),
                    1 => "携帯電話料金の滞納あり".to_owned(),
                    _ => format!("手持ち金が{}円", t.n(2, 8) * 1000),
                };
                let step = t.pick(&[
                    "家計改善支援として収支表を一緒に作成した。",
                    "住居確保給付金の申請を支援した。",
                    "フードバンクへ食料支援を依頼した。",
                    "ハローワークへの同行を予定。",
                    "債務整理について法テラスを案内した。",
                ]);
                format!("自立相談支援（{what}）。{money}。{step}")
            }
        },
        WelfareConsult => {
            // (topic, what was done): each pair fits together
            let pairs: &[(&str, &str)] = match s.profile {
                Profile::Poverty | Profile::SingleParent => &[
                    ("生活保護の相談", "収入と資産の状況を聞き取り、申請の意思を確認した。"),
                    ("生活保護の相談", "必要書類を説明し、次回持参してもらうこととした。"),
                    ("児童扶養手当の手続き", "現況届の提出を受け付けた。"),
                    ("国保税の分納相談", "分納誓約書を作成した。"),
                ],
                Profile::DisabledAdult | Profile::ChildDisability => &[
                    ("障害福祉サービスの利用相談", "サービス等利用計画の見直しについて説明した。"),
                    ("障害者手帳の更新", "更新手続きを案内した。"),
                    ("計画相談の調整", "相談支援事業所と日程を調整する。"),
                ],
                Profile::Child => &[
                    ("子ども家庭相談", "家庭での様子を保護者から聞き取った。"),
                    ("養育状況の確認", "学校と連携して見守りを続ける。"),
                    ("就学援助の相談", "就学援助の申請書を受理した。"),
                ],
                Profile::Withdrawn | Profile::Carer => &[
                    ("世帯の生活費の相談", "世帯の収支を確認し、利用できる制度を説明した。"),
                    ("介護と就労の両立の相談", "介護休業制度と利用できるサービスを説明した。"),
                    ("精神保健福祉相談", "保健師の訪問を調整する。"),
                ],
                _ => &[
                    ("介護保険の相談", "要介護認定の申請書を受理した。"),
                    ("高齢者福祉サービスの申請", "配食サービスの利用を決定した。"),
                    ("緊急通報装置の設置相談", "設置日を調整し、地域包括支援センターと共有した。"),
                ],
            };
            let (topic, detail) = *pairs.choose(&mut t.rng).expect("non-empty");
            let how = t.pick(&["来庁", "電話", "家庭訪問"]);
            format!("{how}（{topic}）。{detail}")
        }
        PhnVisit => {
            if s.child() {
                let weight = t.slip_n(12, 40, 2);
                let concern = t.pick(&[
                    "言葉の遅れについて保護者が心配している",
                    "落ち着きのなさを学校から指摘されている",
                    "夜泣きが続き、保護者が疲れている",
                    "食事の偏りがある",
                ]);
                let child = match s.gender {
                    Gender::Female => "女児",
                    Gender::Male => "男児",
                };
                format!("保健師家庭訪問。{child}、体重{weight}kg。{concern}。保護者の話を傾聴し、相談先を案内した。")
            } else if s.elderly() {
                let sys = t.slip_n(112, 160, 10);
                format!(
                    "保健師訪問。BP {sys}/{}。{}。",
                    t.n(60, 90),
                    t.pick(&["体重は横ばい", "食事量が減っている", "日中の活動量が少ない"])
                )
            } else {
                let sleep = t.slip_n(3, 6, 1);
                let mood = t.pick(&[
                    "気分の落ち込みが続いている",
                    "以前より表情が明るい",
                    "不安感が強く、外出がつらいとのこと",
                ]);
                let step = t.pick(&[
                    "精神科の受診を勧めた",
                    "相談できる機関を紹介した",
                    "次回も同じ曜日に訪問することとした",
                ]);
                format!("保健師家庭訪問。睡眠は{sleep}時間程度。{mood}。{step}。")
            }
        }
        SchoolReport => {
            let absent = t.slip_n(0, 8, 1);
            let late = t.n(0, 5);
            let view = t.pick(&[
                "授業には落ち着いて参加している",
                "友人関係のトラブルがあり、担任が間に入った",
                "保健室で過ごす時間が増えている",
                "給食はよく食べている",
                "忘れ物が多く、提出物が遅れがち",
            ]);
            let step = t.pick(&[
                "担任から家庭へ電話連絡した。",
                "スクールソーシャルワーカーと情報を共有した。",
                "次回の面談は学期末に予定。",
                "放課後の学習支援を案内した。",
            ]);
            format!("今月の出席状況：欠席{absent}日、遅刻{late}日。{view}。{step}")
        }
        NpoActivity => {
            match s.profile {
                Profile::Child | Profile::ChildDisability => format!(
                    "子ども食堂に参加。{}。{}",
                    t.pick(&["夕食をおかわりした", "友達と宿題をしていた", "ボランティアと将棋をして楽しそうだった"]),
                    t.pick(&["迎えは18時半。", "帰りは兄と一緒に帰った。", "次回も来ると話していた。"])
                ),
                Profile::Withdrawn | Profile::DisabledAdult => format!(
                    "居場所（{}）に参加。{}。",
                    t.pick(&["ボードゲームの会", "農園作業", "カフェの日"]),
                    t.pick(&["1時間ほど過ごせた", "他の参加者と短く会話した", "途中で帰ったが、次回も来たいとのこと"])
                ),
                Profile::ElderlyCare | Profile::ElderlySupport => format!(
                    "地域サロンに参加。{}。",
                    t.pick(&["体操に最後まで参加できた", "顔なじみと楽しそうに話していた", "送迎時に足取りが不安定"])
                ),
                _ => format!(
                    "フードバンクから食料を提供（{}日分）。{}。",
                    t.slip_n(3, 10, 2),
                    t.pick(&["米と缶詰を中心に渡した", "子ども用のおやつも追加した", "次回の受け取り日を確認した"])
                ),
            }
        }
        MswNote => format!(
            "入院中。{}。{}",
            t.pick(&[
                "退院に向けて在宅サービスの再開を調整中",
                "医療費の支払いについて相談あり、限度額適用認定を案内",
                "退院前カンファレンスの日程を調整",
            ]),
            t.pick(&["退院予定は来週。", "家族の受け入れ体制を確認中。", "ケアマネジャーと連絡済み。"])
        ),
        Wish => {
            let wish = if s.elderly() {
                t.pick(WISHES_ELDER)
            } else if s.child() {
                t.pick(WISHES_CHILD)
            } else {
                t.pick(WISHES_YOUNG)
            };
            let context = t.pick(&[
                "支援方針に反映させたい。",
                "関係者で共有し、できることを検討する。",
                "次回の会議で取り上げる。",
            ]);
            format!("本人より『{wish}』との思いを伺った。{context}")
        }
        FamilyCall => {
            let what = t.pick(&[
                "最近、本人の物忘れが増えていると心配している",
                "本人が通院を嫌がっており、どう声をかければよいか相談したい",
                "仕事の都合で来月の面談日を変更したい",
                "本人の様子が落ち着いてきたと報告があった",
                "経済的な負担が大きく、今後が不安とのこと",
            ]);
            format!("{kin}より電話。{what}。{}", t.pick(&["次回訪問時に本人とも話す。", "関係機関と共有する。", "傾聴し、助言した。"]))
        }
        Hospitalized => format!(
            "{}のため{}に入院。在宅サービスは一時中止とし、各事業所へ連絡済み。",
            t.pick(&["肺炎", "転倒による大腿骨骨折", "心不全の悪化", "脱水症"]),
            t.pick(&["かさね中央病院", "かさね市民病院"])
        ),
        Discharged => format!(
            "退院。{}。在宅サービスを再開する。",
            t.pick(&["ADLは入院前よりやや低下", "歩行器で室内移動可能", "食事量は入院前と同程度"])
        ),
        Death => format!(
            "{}にて永眠された。{kin}より連絡あり。関係者の皆さまのご支援に感謝いたします。",
            t.pick(&["自宅", "入院先", "ご家族に見守られながらご自宅"])
        ),
        Facility => format!(
            "{}への入所が決まり、本日入所された。在宅での支援を終了する。",
            t.pick(&["特別養護老人ホーム", "介護老人保健施設", "グループホーム"])
        ),
        MoveOut => format!(
            "{}へ転出のため支援を終了。転出先の{}へ引継ぎ済み。",
            t.pick(&["家族の住む隣県", "県外の親族宅", "市外のアパート"]),
            t.pick(&["相談窓口", "関係機関", "地域包括支援センター"])
        ),
        GoalReached => t
            .pick(&[
                "就労が決まり家計も安定したため、本人と確認のうえ支援を終結する。",
                "生活の立て直しができ、本人の希望により支援を終結する。困ったときはいつでも相談するよう伝えた。",
            ])
            .to_owned(),
        Reopened => format!(
            "{}を退所し在宅復帰。在宅での支援を再開する。",
            t.pick(&["介護老人保健施設", "短期入所先"])
        ),
        FamilyDeath => format!(
            "{kin}が永眠されたとの連絡あり。本人は{}。今後の生活について{}。",
            t.pick(&["気丈にふるまっている", "ひどく落ち込んでいる", "状況を受け止めきれていない様子"]),
            t.pick(&["関係機関で見守りを強化する", "近いうちに訪問して話を聴く", "手続きの支援を行う"])
        ),
        Emergency => format!(
            "訪問時、本人が{}で倒れているのを発見。{}。救急要請し{}へ搬送。緊急連絡先の{kin}へ連絡済み。",
            t.pick(&["居間", "寝室", "浴室の前"]),
            t.pick(&["呼びかけへの反応が乏しい", "意識はあるが起き上がれない", "顔色不良で息苦しさを訴えている"]),
            t.pick(&["かさね中央病院", "かさね市民病院"])
        ),
        ConsentTalk => "本人と初めて面談でき、関係機関で情報を共有することについて口頭で同意を得た。"
            .to_owned(),
        MinutesStatutory | MinutesLayered | MinutesConference => {
            let name = match kind {
                MinutesStatutory => "支援会議（社会福祉法第106条の6）",
                MinutesLayered => "重層的支援会議",
                _ => {
                    if s.elderly() {
                        "サービス担当者会議"
                    } else {
                        "ケース会議"
                    }
                }
            };
            format!(
                "{name}を開催。各機関から現状を報告し、支援方針を確認した。{}",
                t.pick(&[
                    "本人の意向を尊重しつつ、見守りの頻度を上げることとした。",
                    "役割分担を再確認し、次回までの課題を整理した。",
                    "緊急時の連絡体制を確認した。",
                ])
            )
        }
    }
}

/// The wording of a correction's reason.
pub(crate) const CORRECTION_REASON: &str = "誤記訂正";
/// The wording of a redaction's reason (the note went to the wrong resident).
pub(crate) const REDACTION_REASON: &str = "別の利用者の記録を誤って投稿したため";

pub(crate) fn consent_purpose(profile: Profile, purpose: u8) -> String {
    let base = match profile {
        Profile::ElderlyCare | Profile::ElderlySupport => {
            "在宅生活を支えるための多職種間の情報共有"
        }
        Profile::Withdrawn => "社会参加に向けた支援のための関係機関間の情報共有",
        Profile::Carer => "介護と育児の負担軽減に向けた関係機関間の情報共有",
        Profile::Child | Profile::ChildDisability => {
            "児童の健やかな育ちを支えるための学校・関係機関間の情報共有"
        }
        Profile::SingleParent | Profile::Poverty => "生活の立て直しに向けた関係機関間の情報共有",
        Profile::DisabledAdult => "地域生活を支えるための関係機関間の情報共有",
    };
    match purpose {
        1 => format!("{base}（有効期間満了に伴う更新）"),
        2 => format!("{base}（新たに支援に加わった機関を含む）"),
        3 => format!("{base}（本人の申し出により範囲を変更）"),
        4 => format!("{base}（本人との初回面談時に口頭で同意）"),
        _ => base.to_owned(),
    }
}

pub(crate) fn document_ref(method: ConsentMethod, year: i32, no: u32) -> Option<String> {
    match method {
        ConsentMethod::Written => Some(format!("同意書 {year}-{no:04}")),
        ConsentMethod::Guardian => Some(format!("同意書（代理人署名） {year}-{no:04}")),
        ConsentMethod::Verbal => None,
    }
}

pub(crate) fn consent_withdraw_reason(t: &mut Txt) -> String {
    t.pick(&[
        "本人より、一部の機関への情報提供を取りやめたいとの申し出があったため",
        "家族と相談した結果、情報提供の範囲を見直したいとの申し出",
        "本人より、家計に関する情報は共有しないでほしいとの申し出",
    ])
    .to_owned()
}

/// The main support kind of a referral decides its wording.
pub(crate) fn referral_reason(kind: SupportKind, profile: Profile, t: &mut Txt) -> String {
    let s = match kind {
        SupportKind::Nursing => "服薬管理と健康状態の観察が必要なため、訪問看護の導入をお願いしたい。",
        SupportKind::Care => {
            if matches!(profile, Profile::Carer) {
                "介護者の負担が限界に近いため、ショートステイ等の調整をお願いしたい。"
            } else {
                "一人での入浴や家事が難しくなっており、介護サービスの導入・調整をお願いしたい。"
            }
        }
        SupportKind::Medical => t.pick(&[
            "不眠と気分の落ち込みが続いており、受診と評価をお願いしたい。",
            "物忘れが進んでおり、専門医の診察をお願いしたい。",
            "発達の評価と今後の関わり方について助言をいただきたい。",
        ]),
        SupportKind::Financial => t.pick(&[
            "家賃と公共料金の滞納があり、家計の立て直しと制度の利用について相談に乗っていただきたい。",
            "年金の管理ができておらず、日常生活自立支援事業の利用を検討したい。",
            "世帯の収入が途絶えており、生活保護の申請について相談したい。",
        ]),
        SupportKind::Housing => "アパートの契約更新ができず、2か月後に退去予定。住まいの確保について支援をお願いしたい。",
        SupportKind::Work => "本人に働きたい気持ちが出てきたため、就労準備支援をお願いしたい。",
        SupportKind::SocialContact => {
            "家族以外との交流がほとんどなく、居場所やサロンへの参加を支援していただきたい。"
        }
        SupportKind::Childcare => "親が介護で疲弊しており、子どもの一時預かりや学習支援をお願いしたい。",
        SupportKind::Other => "食料が不足しているため、フードバンクによる食料支援をお願いしたい。",
    };
    s.to_owned()
}

pub(crate) fn accept_comment(t: &mut Txt) -> Option<String> {
    if t.chance(0.3) {
        return None;
    }
    Some(
        t.pick(&[
            "承知しました。来週、初回訪問します。",
            "お引き受けします。担当者から本人へ連絡します。",
            "受け入れ可能です。日程を調整します。",
            "承知しました。まずは関係者で顔合わせをお願いします。",
        ])
        .to_owned(),
    )
}

pub(crate) fn decline_reason(t: &mut Txt) -> String {
    t.pick(&[
        "現在新規の受け入れ枠がなく、対応が難しいため。近隣の事業所を紹介します。",
        "対象要件に該当しないため。別の制度をご案内します。",
        "本人から利用を希望しないとの意思表示があったため。",
    ])
    .to_owned()
}

pub(crate) fn withdraw_reason(closing: bool, t: &mut Txt) -> String {
    if closing {
        return "支援終結のため。".to_owned();
    }
    t.pick(&[
        "本人が利用を辞退したため。",
        "家族の支援で対応できることになったため。",
        "入院したため、退院後に改めて依頼します。",
    ])
    .to_owned()
}

pub(crate) fn referral_outcome(kind: SupportKind, t: &mut Txt) -> String {
    let s = match kind {
        SupportKind::Nursing => "訪問看護を週1回で導入し、服薬状況と体調が安定した。",
        SupportKind::Care => "介護サービスを導入し、在宅生活が安定した。",
        SupportKind::Medical => "受診につながり、治療方針が決まった。",
        SupportKind::Financial => t.pick(&[
            "家計の収支が改善し、滞納を解消した。",
            "生活保護の受給が決定した。",
            "日常生活自立支援事業の契約を締結した。",
        ]),
        SupportKind::Housing => t.pick(&[
            "市営住宅への入居が決まった。",
            "家賃の分納が決まり、退去を回避できた。",
        ]),
        SupportKind::Work => t.pick(&[
            "就労準備支援を経て、週3日のアルバイトを開始した。",
            "作業体験を継続し、就労継続支援B型の利用につながった。",
        ]),
        SupportKind::SocialContact => "居場所に月2回参加できるようになった。",
        SupportKind::Childcare => "一時預かりと学習支援の利用が定着した。",
        SupportKind::Other => "食料支援を3か月実施し、生活が安定した。",
    };
    s.to_owned()
}

pub(crate) fn meeting_agenda(
    kind: MeetingKind,
    profile: Profile,
    round: u8,
    t: &mut Txt,
) -> String {
    let who = match profile {
        Profile::ElderlyCare | Profile::ElderlySupport => "高齢の本人の在宅生活",
        Profile::Withdrawn => "ひきこもり状態の本人と高齢の親の世帯（8050）",
        Profile::Carer => "介護と育児を担う本人の世帯（ダブルケア）",
        Profile::Child | Profile::ChildDisability => "児童と家庭",
        Profile::SingleParent => "ひとり親世帯",
        Profile::Poverty => "生活に困窮する本人",
        Profile::DisabledAdult => "障害のある本人の地域生活",
    };
    let purpose = if round == 0 {
        "支援方針の検討と役割分担"
    } else {
        "支援の経過確認と方針の見直し"
    };
    let extra = match kind {
        MeetingKind::Statutory => {
            "（構成員には守秘義務が課される。本人同意のない情報も共有の対象とする）"
        }
        MeetingKind::Layered => "（本人同意の範囲で情報を共有）",
        MeetingKind::CaseConference => "",
    };
    format!(
        "{who}への{purpose}について。{}{extra}",
        t.pick(&[
            "各機関の把握している状況の共有。",
            "本人・家族の意向の確認。",
            "緊急時の対応の確認。",
        ])
    )
}

pub(crate) fn unit_task(unit: Unit, t: &mut Txt) -> String {
    let s = match unit {
        Unit::Welfare => t.pick(&[
            "制度利用（生活保護・障害福祉等）の調整",
            "保健師による定期訪問と健康相談",
        ]),
        Unit::Layered => "支援全体の調整と月2回のアウトリーチ",
        Unit::Council => t.pick(&[
            "家計改善支援と就労準備支援",
            "日常生活自立支援事業による金銭管理",
        ]),
        Unit::Comprehensive => "権利擁護と家族支援、地域の見守りの調整",
        Unit::Clinic | Unit::HomeCareClinic => "月2回の訪問診療と急変時の対応",
        Unit::Pediatric => "発達の評価と関わり方への助言",
        Unit::Hospital => "退院支援と医療機関との連絡調整",
        Unit::NurseStation => "週1回の健康状態の確認と服薬管理",
        Unit::Pharmacy => "居宅療養管理指導（服薬の一包化と残薬確認）",
        Unit::CareOffice => "ケアプランの作成とサービス調整、月1回のモニタリング",
        Unit::HomeHelp => "週3回の生活援助（調理・掃除）と見守り",
        Unit::School => "登校状況の見守りと家庭との連絡",
        Unit::Npo => t.pick(&[
            "居場所での見守り",
            "子ども食堂での見守りと食料支援",
            "フードバンクによる食料支援",
        ]),
    };
    s.to_owned()
}

pub(crate) fn meeting_decisions(units: &[Unit], next_months: Option<u32>, t: &mut Txt) -> String {
    const NUMBERS: [&str; 6] = ["①", "②", "③", "④", "⑤", "⑥"];
    let mut parts = Vec::new();
    for (i, unit) in units.iter().take(5).enumerate() {
        parts.push(format!(
            "{}{}は{}を担う",
            NUMBERS[i],
            unit.short(),
            unit_task(*unit, t)
        ));
    }
    let mut text = parts.join("。");
    text.push('。');
    if let Some(m) = next_months {
        text.push_str(&format!(
            "{}次回は{m}か月後に開催する。",
            NUMBERS[parts.len().min(5)]
        ));
    }
    text
}

pub(crate) fn plan_goals(profile: Profile, t: &mut Txt) -> Vec<String> {
    let pool: &[&str] = match profile {
        Profile::ElderlyCare => &[
            "住み慣れた自宅での生活を続ける",
            "転倒せずに室内を移動できる",
            "服薬を忘れずに続け、体調を安定させる",
            "栄養状態を保ち、体重を維持する",
            "介護する家族の負担を軽くする",
            "週1回は外出の機会をもつ",
        ],
        Profile::ElderlySupport => &[
            "地域のサロンに月2回参加する",
            "一人暮らしを安全に続ける",
            "体力を維持し、買い物に自分で行ける",
            "困ったときに相談できる先を確保する",
        ],
        Profile::Withdrawn => &[
            "支援者と定期的に会える関係をつくる",
            "週1回は外出する",
            "居場所に参加できる",
            "生活リズムを整える",
            "将来の生活について家族と話し合う",
        ],
        Profile::Carer => &[
            "介護と子育てを一人で抱え込まない",
            "十分な睡眠をとれる日を週3日以上つくる",
            "仕事を続けられる体制をつくる",
            "子どもとの時間を確保する",
        ],
        Profile::Child => &[
            "毎日登校できる",
            "安心して過ごせる居場所をもつ",
            "生活リズムを整える",
            "学習の遅れを取り戻す",
        ],
        Profile::ChildDisability => &[
            "発達に合った支援を受けて学校生活を楽しめる",
            "家族が相談できる先を確保する",
            "療育と学校の連携を進める",
        ],
        Profile::SingleParent => &[
            "家計を安定させる",
            "子どもと安心して暮らせる住まいを確保する",
            "就労を継続する",
            "ひとりで抱え込まずに相談できる",
        ],
        Profile::Poverty => &[
            "家賃の滞納を解消する",
            "就労により収入を安定させる",
            "食事を1日3回とれる",
            "住まいを確保する",
            "借金の整理を進める",
        ],
        Profile::DisabledAdult => &[
            "地域で自立した生活を続ける",
            "日中活動の場をもつ",
            "金銭管理を安定させる",
            "体調を崩さずに通院を続ける",
        ],
    };
    let n = t.range(2, 3) as usize;
    let mut goals: Vec<String> = Vec::new();
    while goals.len() < n.min(pool.len()) {
        let g = t.pick(pool);
        if !goals.iter().any(|x| x == g) {
            goals.push(g.to_owned());
        }
    }
    goals
}

pub(crate) fn justification(kin: &str, t: &mut Txt) -> String {
    let kin = if kin.is_empty() { "家族" } else { kin };
    format!(
        "{}。救急隊と搬送先に既往歴・服薬情報を伝える必要があるが、本人は意識が低下しており同意を得られず、{kin}とも連絡がつかないため（生命・身体の保護のため緊急に閲覧）。",
        t.pick(&[
            "訪問時、本人が自宅で倒れており呼びかけへの反応が乏しい",
            "訪問時に応答がなく、管理人立会いで入室したところ本人が倒れていた",
            "訪問時、本人が強い胸痛を訴えて動けない状態",
        ])
    )
}

pub(crate) fn attachment_name(kind: NoteKind, ymd: &str) -> String {
    let what = match kind {
        NoteKind::NurseVisit => "訪問看護報告書",
        NoteKind::DoctorVisit | NoteKind::DoctorOutpatient | NoteKind::PediatricVisit => {
            "診療情報提供書"
        }
        NoteKind::CareMonitoring => "モニタリング記録",
        NoteKind::PharmacistVisit => "服薬情報提供書",
        _ => "記録",
    };
    format!("{what}_{ymd}.pdf")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrections_change_only_the_slip() {
        let s = Subject {
            profile: Profile::ElderlyCare,
            gender: Gender::Female,
            kin: "長女",
            dementia: false,
        };
        let mut changed = 0;
        for seed in 0..50 {
            let a = note_body(NoteKind::NurseVisit, &s, &mut Txt::new(seed));
            let b = note_body(NoteKind::NurseVisit, &s, &mut Txt::new(seed));
            let c = note_body(NoteKind::NurseVisit, &s, &mut Txt::corrected(seed));
            assert_eq!(a, b);
            assert!(a.starts_with("定期訪問。"));
            if a != c {
                changed += 1;
            }
        }
        assert_eq!(changed, 50);
    }
}
