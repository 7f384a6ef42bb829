//! Masking personal data for public pages and the public status endpoint: enough to recognise a
//! licence one holds, not enough to learn whose it is.

/// Masks a holder's name. A name of up to 3 characters (a person) keeps its first character
/// (the surname): 王** . A longer name (an organisation) keeps its first 2 and last 4
/// characters: 南京**科技有限公司 (at least two `*`).
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1..=3 => format!("{}{}", chars[0], "*".repeat((chars.len() - 1).max(1))),
        n => {
            let keep_tail = 4.min(n.saturating_sub(4));
            let head: String = chars[..2].iter().collect();
            let tail: String = chars[n - keep_tail..].iter().collect();
            let stars = (n - 2 - keep_tail).max(2);
            format!("{head}{}{tail}", "*".repeat(stars))
        }
    }
}

/// Masks a code (USCC or resident ID number): the first 4 and last 4 characters stay, the rest
/// become `*`: 3201**********1234. Codes of 8 characters or fewer keep only their last 2.
pub fn mask_code(code: &str) -> String {
    let chars: Vec<char> = code.trim().chars().collect();
    let n = chars.len();
    if n <= 8 {
        let keep = n.min(2);
        return format!(
            "{}{}",
            "*".repeat(n - keep),
            chars[n - keep..].iter().collect::<String>()
        );
    }
    format!(
        "{}{}{}",
        chars[..4].iter().collect::<String>(),
        "*".repeat(n - 8),
        chars[n - 4..].iter().collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_names_keep_head_and_tail() {
        assert_eq!(mask_name("南京示例科技有限公司"), "南京****有限公司");
        assert_eq!(mask_name("南京科技有限公司"), "南京**有限公司");
        assert_eq!(mask_name("某某公司"), "某某**");
    }

    #[test]
    fn personal_names_keep_the_surname() {
        assert_eq!(mask_name("王晓明"), "王**");
        assert_eq!(mask_name("李华"), "李*");
        assert_eq!(mask_name("王"), "王*");
    }

    #[test]
    fn codes_keep_four_and_four() {
        assert_eq!(mask_code("320102199001011234"), "3201**********1234");
        assert_eq!(mask_code("91320105MA1Y8K3N29"), "9132**********3N29");
        assert_eq!(mask_code("12345678"), "******78");
    }
}
