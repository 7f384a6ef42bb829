//! Masking of the licence holder on the public licence page (`/v/{id}`) and in the public
//! status (`GET /v1/licences/{id}/status`): they prove that a licence exists and what its status
//! is, without publishing who holds it. A person who holds
//! the document can compare the visible characters with it; a stranger who scans a QR code
//! learns nothing that identifies the holder.
//!
//! - an organisation's name keeps its first 2 and last 4 characters, one `*` per hidden
//!   character and at least two (南京云帆科技有限公司 → 南京****有限公司, as
//!   `GET /v1/licences/{id}/status` shows it); names of 6 characters or fewer keep only their
//!   first and last;
//! - a person's name keeps the surname only, one `*` per other character (张三 → 张*,
//!   欧阳娜娜 → 欧阳**);
//! - a code (统一社会信用代码 or 居民身份证号码) keeps its first 4 and last 4 characters, one
//!   `*` per hidden character (320102199001011234 → 3201**********1234).

/// Who holds a licence, as far as masking is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderKind {
    /// A legal person or other organisation (code type `001`, a USCC).
    Organisation,
    /// A natural person (code type `111`, a resident ID number).
    Person,
}

/// Two-character surnames (复姓) common enough to matter; any other name keeps one character.
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒",
    "夏侯", "轩辕", "令狐", "端木", "独孤", "南宫", "西门", "百里", "呼延", "申屠", "太史", "澹台",
    "公冶", "宗政", "濮阳", "单于", "闻人", "万俟", "钟离", "赫连", "拓跋", "第五", "司空", "左丘",
];

/// The holder's name as shown on the public page.
pub fn mask_name(name: &str, kind: HolderKind) -> String {
    let chars: Vec<char> = name.trim().chars().filter(|c| !c.is_control()).collect();
    match kind {
        HolderKind::Organisation => mask_organisation(&chars),
        HolderKind::Person => mask_person(&chars),
    }
}

fn mask_organisation(chars: &[char]) -> String {
    let n = chars.len();
    let (head, tail) = match n {
        0 => return String::new(),
        1 => (0, 0),
        2 => (1, 0),
        3..=6 => (1, 1),
        _ => (2, 4),
    };
    let mut out: String = chars[..head].iter().collect();
    let hidden = n - head - tail;
    out.extend(std::iter::repeat_n(
        '*',
        if n > 2 { hidden.max(2) } else { 1 },
    ));
    out.extend(&chars[n - tail..]);
    out
}

fn mask_person(chars: &[char]) -> String {
    let n = chars.len();
    if n == 0 {
        return String::new();
    }
    let first_two: String = chars.iter().take(2).collect();
    let surname = if n >= 3 && COMPOUND_SURNAMES.contains(&first_two.as_str()) {
        2
    } else {
        1
    };
    let mut out: String = chars[..surname].iter().collect();
    let hidden = (n - surname).max(1);
    out.extend(std::iter::repeat_n('*', hidden));
    out
}

/// A holder code as shown on the public page: the first 4 and last 4 characters of a long code,
/// less of a short one, nothing of a code of 4 characters or fewer.
pub fn mask_code(code: &str) -> String {
    let chars: Vec<char> = code.trim().chars().filter(|c| !c.is_control()).collect();
    let n = chars.len();
    let keep = match n {
        0..=4 => 0,
        5..=8 => 1,
        _ => 4,
    };
    let mut out: String = chars[..keep].iter().collect();
    out.extend(std::iter::repeat_n('*', n - 2 * keep));
    out.extend(&chars[n - keep..]);
    out
}

use chop_seal::licence::HolderCodeType;

use super::{Licence, Registry};

impl Registry {
    /// Whether a licence's holder is a person or an organisation: from the licence type's holder
    /// code type (fixed, or the data field that names it), else from the code's shape.
    pub fn holder_kind(&self, licence: &Licence) -> HolderKind {
        let from_type = self.templates().get(&licence.type_key).and_then(|t| {
            let holder = t.holder();
            holder.code_type.or_else(|| {
                let field = holder.code_type_field.as_deref()?;
                HolderCodeType::from_code(licence.data.get(field)?.as_str()?)
            })
        });
        match from_type {
            Some(HolderCodeType::ResidentId) => HolderKind::Person,
            Some(HolderCodeType::Uscc) => HolderKind::Organisation,
            None if chop_seal::codes::validate_resident_id(&licence.holder_code).is_ok() => {
                HolderKind::Person
            }
            None => HolderKind::Organisation,
        }
    }

    /// The holder's name and code, masked for the public.
    pub fn masked_holder(&self, licence: &Licence) -> (String, String) {
        (
            mask_name(&licence.holder_name, self.holder_kind(licence)),
            mask_code(&licence.holder_code),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organisation_names_keep_first_two_and_last_four() {
        assert_eq!(
            mask_name("南京云帆科技有限公司", HolderKind::Organisation),
            "南京****有限公司"
        );
        assert_eq!(
            mask_name("南京市鼓楼区示例食品经营部", HolderKind::Organisation),
            "南京*******品经营部"
        );
        assert_eq!(mask_name("张三餐饮店", HolderKind::Organisation), "张***店");
        assert_eq!(mask_name("某店", HolderKind::Organisation), "某*");
        assert_eq!(mask_name("店", HolderKind::Organisation), "*");
        assert_eq!(mask_name("", HolderKind::Organisation), "");
    }

    #[test]
    fn organisation_names_never_show_the_middle() {
        for name in [
            "南京云帆科技有限公司",
            "上海示例贸易有限责任公司",
            "ACME Widgets Limited",
        ] {
            let masked = mask_name(name, HolderKind::Organisation);
            let chars: Vec<char> = name.chars().collect();
            let middle: String = chars[2..chars.len() - 4].iter().collect();
            assert!(!masked.contains(&middle), "{name} → {masked}");
            assert!(masked.contains("**"), "{masked}");
            assert_eq!(masked.chars().count(), chars.len(), "{masked}");
        }
    }

    #[test]
    fn people_keep_their_surname_only() {
        assert_eq!(mask_name("张三", HolderKind::Person), "张*");
        assert_eq!(mask_name("王小明", HolderKind::Person), "王**");
        assert_eq!(mask_name("欧阳娜娜", HolderKind::Person), "欧阳**");
        // A two-character name starting like a compound surname is a surname and a given name.
        assert_eq!(mask_name("欧阳", HolderKind::Person), "欧*");
        assert_eq!(mask_name("李", HolderKind::Person), "李*");
    }

    #[test]
    fn codes_keep_first_four_and_last_four() {
        assert_eq!(mask_code("320102199001011234"), "3201**********1234");
        assert_eq!(mask_code("91320100MA1XXXXX7Q"), "9132**********XX7Q");
        assert_eq!(mask_code("12345678"), "1******8");
        assert_eq!(mask_code("1234"), "****");
        assert_eq!(mask_code(""), "");
    }
}
