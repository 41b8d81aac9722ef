//! The search key of Japanese text, so that a name typed in hiragana, katakana, half-width
//! katakana or full-width letters finds the same resident.
//!
//! Folding is: NFKC (full-width ASCII → ASCII, half-width katakana → full-width with its voiced
//! mark composed: `ｶﾞ` → `ガ`), hiragana → katakana (U+3041..=U+3096 and `ゝゞ`), lowercase, and
//! every whitespace character removed (U+3000 included). The steps repeat until nothing
//! changes, because removing a space or turning `わ` into `ワ` can make a voiced mark
//! composable (`わ゛` → `ヷ`); so `fold(fold(s)) == fold(s)` for every string.

use unicode_normalization::UnicodeNormalization;

/// The search key of `text`: what both stored names and queries are reduced to before a
/// substring match.
pub fn fold(text: &str) -> String {
    let mut folded = fold_once(text);
    // One more pass is almost always a no-op; the bound only guards against a pathological
    // input that never settles (none is known).
    for _ in 0..4 {
        let again = fold_once(&folded);
        if again == folded {
            break;
        }
        folded = again;
    }
    folded
}

fn fold_once(text: &str) -> String {
    text.nfkc()
        .filter(|c| !c.is_whitespace())
        .map(hiragana_to_katakana)
        .flat_map(char::to_lowercase)
        .collect()
}

fn hiragana_to_katakana(c: char) -> char {
    match c {
        // ぁ..=ゖ → ァ..=ヶ, and the iteration marks ゝゞ → ヽヾ: the blocks are 0x60 apart.
        '\u{3041}'..='\u{3096}' | '\u{309D}' | '\u{309E}' => {
            char::from_u32(c as u32 + 0x60).unwrap_or(c)
        }
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn readings_in_any_script_fold_to_the_same_katakana() {
        assert_eq!(fold("やまだ はなこ"), "ヤマダハナコ");
        assert_eq!(fold("ヤマダ　ハナコ"), "ヤマダハナコ");
        assert_eq!(fold("ﾔﾏﾀﾞ ﾊﾅｺ"), "ヤマダハナコ");
        assert_eq!(fold("ﾊﾟﾝ"), "パン");
        assert_eq!(fold("ｶﾞｯｺｳ"), "ガッコウ");
        assert_eq!(fold("いすゞ"), "イスヾ");
        assert_eq!(fold("ゔ"), "ヴ");
    }

    #[test]
    fn kanji_keep_their_form_and_lose_spaces() {
        assert_eq!(fold("山田 花子"), "山田花子");
        assert_eq!(fold(" 山田\u{3000}花子\t\n"), "山田花子");
        assert_eq!(fold("髙橋"), "髙橋");
    }

    #[test]
    fn full_width_latin_becomes_lowercase_ascii() {
        assert_eq!(fold("ＹＡＭＡＤＡ"), "yamada");
        assert_eq!(fold("Yamada Hanako"), "yamadahanako");
        assert_eq!(fold("１２３"), "123");
    }

    #[test]
    fn marks_left_apart_are_composed() {
        // A spacing voiced mark (NFKC gives a space and the combining mark).
        assert_eq!(fold("か゛"), "ガ");
        // Composable only once the hiragana became katakana.
        assert_eq!(fold("わ\u{3099}"), "ヷ");
        assert_eq!(fold("ｶ ﾞ"), "ガ");
    }

    proptest! {
        #[test]
        fn fold_is_idempotent(s in "\\PC{0,24}") {
            let once = fold(&s);
            prop_assert_eq!(fold(&once), once);
        }

        #[test]
        fn fold_is_idempotent_on_kana(s in "[ぁ-ゟァ-ヿｦ-ﾟ\u{3099}-\u{309C} 　a-zＡ-Ｚ]{0,16}") {
            let once = fold(&s);
            prop_assert!(!once.chars().any(char::is_whitespace));
            prop_assert_eq!(fold(&once), once);
        }
    }
}
