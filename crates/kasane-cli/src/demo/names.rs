//! Japanese names with their katakana readings, and addresses in the fictional かさね市.

use rand::Rng;
use rand::seq::IndexedRandom;

/// The fictional municipality every demo address is in.
pub(crate) const CITY: &str = "かさね市";

/// A person's gender, as far as names and kinship words need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Gender {
    Female,
    Male,
}

impl Gender {
    pub(crate) fn random(rng: &mut impl Rng) -> Gender {
        if rng.random_bool(0.5) {
            Gender::Female
        } else {
            Gender::Male
        }
    }
}

/// Family names (姓) with readings, common ones first.
pub(crate) const SURNAMES: &[(&str, &str)] = &[
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("山崎", "ヤマザキ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
    ("阿部", "アベ"),
    ("石川", "イシカワ"),
    ("山下", "ヤマシタ"),
    ("中島", "ナカジマ"),
    ("石井", "イシイ"),
    ("小川", "オガワ"),
    ("前田", "マエダ"),
    ("岡田", "オカダ"),
    ("長谷川", "ハセガワ"),
    ("藤田", "フジタ"),
    ("後藤", "ゴトウ"),
    ("近藤", "コンドウ"),
    ("村上", "ムラカミ"),
    ("遠藤", "エンドウ"),
    ("青木", "アオキ"),
    ("坂本", "サカモト"),
    ("福田", "フクダ"),
    ("太田", "オオタ"),
    ("西村", "ニシムラ"),
    ("藤井", "フジイ"),
    ("金子", "カネコ"),
    ("岡本", "オカモト"),
    ("藤原", "フジワラ"),
    ("中野", "ナカノ"),
    ("三浦", "ミウラ"),
    ("原田", "ハラダ"),
    ("中川", "ナカガワ"),
    ("松田", "マツダ"),
    ("竹内", "タケウチ"),
    ("小野", "オノ"),
    ("田村", "タムラ"),
    ("中山", "ナカヤマ"),
    ("和田", "ワダ"),
    ("石田", "イシダ"),
    ("森田", "モリタ"),
    ("上田", "ウエダ"),
    ("原", "ハラ"),
    ("内田", "ウチダ"),
    ("柴田", "シバタ"),
    ("酒井", "サカイ"),
    ("工藤", "クドウ"),
    ("横山", "ヨコヤマ"),
    ("宮崎", "ミヤザキ"),
    ("宮本", "ミヤモト"),
    ("大野", "オオノ"),
    ("菅原", "スガワラ"),
];

const OLD_MALE: &[(&str, &str)] = &[
    ("清", "キヨシ"),
    ("茂", "シゲル"),
    ("勝", "マサル"),
    ("弘", "ヒロシ"),
    ("正雄", "マサオ"),
    ("進", "ススム"),
    ("實", "ミノル"),
    ("武", "タケシ"),
    ("三郎", "サブロウ"),
    ("昭二", "ショウジ"),
    ("和夫", "カズオ"),
    ("幸男", "ユキオ"),
    ("一郎", "イチロウ"),
    ("義男", "ヨシオ"),
    ("利夫", "トシオ"),
    ("勇", "イサム"),
    ("正", "タダシ"),
    ("隆", "タカシ"),
    ("忠", "タダシ"),
    ("秀夫", "ヒデオ"),
];

const OLD_FEMALE: &[(&str, &str)] = &[
    ("幸子", "サチコ"),
    ("和子", "カズコ"),
    ("節子", "セツコ"),
    ("文子", "フミコ"),
    ("久子", "ヒサコ"),
    ("美代子", "ミヨコ"),
    ("照子", "テルコ"),
    ("トミ", "トミ"),
    ("キヨ", "キヨ"),
    ("洋子", "ヨウコ"),
    ("京子", "キョウコ"),
    ("弘子", "ヒロコ"),
    ("恵子", "ケイコ"),
    ("光子", "ミツコ"),
    ("静江", "シズエ"),
    ("千代", "チヨ"),
    ("ハル", "ハル"),
    ("信子", "ノブコ"),
    ("貞子", "サダコ"),
    ("芳子", "ヨシコ"),
];

const MID_MALE: &[(&str, &str)] = &[
    ("浩", "ヒロシ"),
    ("誠", "マコト"),
    ("健一", "ケンイチ"),
    ("直樹", "ナオキ"),
    ("哲也", "テツヤ"),
    ("剛", "ツヨシ"),
    ("大輔", "ダイスケ"),
    ("隆之", "タカユキ"),
    ("和也", "カズヤ"),
    ("秀樹", "ヒデキ"),
    ("聡", "サトシ"),
    ("健太", "ケンタ"),
    ("拓也", "タクヤ"),
    ("智之", "トモユキ"),
    ("雅人", "マサト"),
    ("達也", "タツヤ"),
    ("修", "オサム"),
    ("康弘", "ヤスヒロ"),
    ("淳", "ジュン"),
    ("亮", "リョウ"),
];

const MID_FEMALE: &[(&str, &str)] = &[
    ("裕子", "ユウコ"),
    ("恵美", "エミ"),
    ("真由美", "マユミ"),
    ("明美", "アケミ"),
    ("直美", "ナオミ"),
    ("智子", "トモコ"),
    ("久美子", "クミコ"),
    ("由美", "ユミ"),
    ("美穂", "ミホ"),
    ("香織", "カオリ"),
    ("陽子", "ヨウコ"),
    ("綾", "アヤ"),
    ("愛", "アイ"),
    ("麻衣", "マイ"),
    ("美紀", "ミキ"),
    ("純子", "ジュンコ"),
    ("千春", "チハル"),
    ("奈美", "ナミ"),
    ("理恵", "リエ"),
    ("花子", "ハナコ"),
];

const YOUNG_MALE: &[(&str, &str)] = &[
    ("蓮", "レン"),
    ("陽翔", "ハルト"),
    ("悠真", "ユウマ"),
    ("湊", "ミナト"),
    ("大翔", "ヒロト"),
    ("颯太", "ソウタ"),
    ("蒼", "アオイ"),
    ("樹", "イツキ"),
    ("悠人", "ユウト"),
    ("翔太", "ショウタ"),
    ("大和", "ヤマト"),
    ("陸", "リク"),
    ("朝陽", "アサヒ"),
    ("律", "リツ"),
    ("奏太", "カナタ"),
    ("翼", "ツバサ"),
    ("海斗", "カイト"),
    ("拓海", "タクミ"),
    ("陽太", "ヒナタ"),
    ("健", "ケン"),
];

const YOUNG_FEMALE: &[(&str, &str)] = &[
    ("陽葵", "ヒマリ"),
    ("凛", "リン"),
    ("結菜", "ユイナ"),
    ("芽依", "メイ"),
    ("葵", "アオイ"),
    ("紬", "ツムギ"),
    ("咲良", "サクラ"),
    ("結衣", "ユイ"),
    ("美咲", "ミサキ"),
    ("莉子", "リコ"),
    ("心春", "コハル"),
    ("杏", "アン"),
    ("彩花", "アヤカ"),
    ("七海", "ナナミ"),
    ("花", "ハナ"),
    ("優奈", "ユウナ"),
    ("美月", "ミヅキ"),
    ("陽菜", "ヒナ"),
    ("澪", "ミオ"),
    ("琴音", "コトネ"),
];

/// Picks a family name (kanji, kana).
pub(crate) fn surname(rng: &mut impl Rng) -> (&'static str, &'static str) {
    *SURNAMES.choose(rng).expect("non-empty")
}

/// Picks a given name that fits the birth year and gender (kanji, kana).
pub(crate) fn given_name(
    rng: &mut impl Rng,
    gender: Gender,
    birth_year: i32,
) -> (&'static str, &'static str) {
    let pool = match (gender, birth_year) {
        (Gender::Male, ..=1960) => OLD_MALE,
        (Gender::Female, ..=1960) => OLD_FEMALE,
        (Gender::Male, 1961..=1992) => MID_MALE,
        (Gender::Female, 1961..=1992) => MID_FEMALE,
        (Gender::Male, _) => YOUNG_MALE,
        (Gender::Female, _) => YOUNG_FEMALE,
    };
    *pool.choose(rng).expect("non-empty")
}

/// A full name and its reading, e.g. ("佐藤 花子", "サトウ ハナコ").
pub(crate) fn full_name(family: (&str, &str), given: (&str, &str)) -> (String, String) {
    (
        format!("{} {}", family.0, given.0),
        format!("{} {}", family.1, given.1),
    )
}

/// True when `s` is a reading in full-width katakana (words separated by single spaces).
#[cfg(test)]
pub(crate) fn is_katakana_reading(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && s.chars()
            .all(|c| c == ' ' || ('\u{30A1}'..='\u{30FC}').contains(&c))
}

/// The town districts (町名) of かさね市.
pub(crate) const DISTRICTS: &[&str] = &[
    "本町",
    "栄町",
    "緑ヶ丘",
    "港町",
    "桜台",
    "旭町",
    "中央",
    "東町",
    "西町",
    "南町",
    "北町",
    "若葉台",
    "川端町",
    "城山",
    "松原",
    "日の出町",
];

const CHOME: &[&str] = &["一", "二", "三", "四", "五"];
const BUILDINGS: &[&str] = &["コーポ", "ハイツ", "メゾン", "グリーンハイツ", "サンハイム"];

/// A street address in かさね市, e.g. 「かさね市本町二丁目3-4」 (sometimes with a flat).
pub(crate) fn address(rng: &mut impl Rng) -> String {
    let district = *DISTRICTS.choose(rng).expect("non-empty");
    let chome = *CHOME.choose(rng).expect("non-empty");
    let ban = rng.random_range(1..=30);
    let go = rng.random_range(1..=20);
    let mut text = format!("{CITY}{district}{chome}丁目{ban}-{go}");
    match rng.random_range(0..10) {
        0 | 1 => {
            let building = *BUILDINGS.choose(rng).expect("non-empty");
            let short: String = district.chars().take(1).collect();
            let room = rng.random_range(1..=3) * 100 + rng.random_range(1..=6);
            text.push_str(&format!(" {building}{short} {room}号室"));
        }
        2 => {
            let block = rng.random_range(1..=8);
            let room = rng.random_range(1..=4) * 100 + rng.random_range(1..=10);
            text =
                format!("{CITY}{district}{chome}丁目{ban} 市営{district}住宅{block}号棟{room}号室");
        }
        _ => {}
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reading_is_katakana() {
        let all = [
            SURNAMES,
            OLD_MALE,
            OLD_FEMALE,
            MID_MALE,
            MID_FEMALE,
            YOUNG_MALE,
            YOUNG_FEMALE,
        ];
        for pool in all {
            for (kanji, kana) in pool {
                assert!(!kanji.is_empty());
                assert!(is_katakana_reading(kana), "{kanji}: {kana}");
            }
        }
        assert!(is_katakana_reading("サトウ ハナコ"));
        assert!(!is_katakana_reading("さとう はなこ"));
        assert!(!is_katakana_reading("Sato"));
    }
}
