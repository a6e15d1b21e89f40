//! Administrative division codes (GB/T 2260): the provinces of China, Guangdong's 21 cities, and
//! the districts of Guangzhou and Shenzhen. 12-digit codes (township and village) are accepted
//! when their first six digits are known.

use std::fmt;
use std::str::FromStr;

/// A validated division code: 6 digits, or 12 where a platform uses the longer form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DivisionCode {
    /// The 6-digit county-level (or higher) part.
    code: u32,
    /// The 6 digits after it in a 12-digit code (township 3 + village 3), or `None`.
    local: Option<u32>,
}

/// Where a division sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DivisionLevel {
    Province,
    City,
    District,
    Township,
    Village,
}

impl DivisionLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            DivisionLevel::Province => "province",
            DivisionLevel::City => "city",
            DivisionLevel::District => "district",
            DivisionLevel::Township => "township",
            DivisionLevel::Village => "village",
        }
    }
}

/// A known division: its code, names and level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Division {
    pub code: u32,
    pub name_zh: &'static str,
    pub name_en: &'static str,
}

/// Why a division code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DivisionError {
    #[error("a division code is 6 digits (or 12), not {0} characters")]
    Length(usize),
    #[error("a division code is all digits")]
    NotDigits,
    #[error(
        "{0:06} is not a known division (the table holds every province, Guangdong's 21 cities and the districts of Guangzhou and Shenzhen)"
    )]
    Unknown(u32),
}

#[rustfmt::skip]
const PROVINCES: &[Division] = &[
    Division { code: 110000, name_zh: "北京市", name_en: "Beijing" },
    Division { code: 120000, name_zh: "天津市", name_en: "Tianjin" },
    Division { code: 130000, name_zh: "河北省", name_en: "Hebei" },
    Division { code: 140000, name_zh: "山西省", name_en: "Shanxi" },
    Division { code: 150000, name_zh: "内蒙古自治区", name_en: "Inner Mongolia" },
    Division { code: 210000, name_zh: "辽宁省", name_en: "Liaoning" },
    Division { code: 220000, name_zh: "吉林省", name_en: "Jilin" },
    Division { code: 230000, name_zh: "黑龙江省", name_en: "Heilongjiang" },
    Division { code: 310000, name_zh: "上海市", name_en: "Shanghai" },
    Division { code: 320000, name_zh: "江苏省", name_en: "Jiangsu" },
    Division { code: 330000, name_zh: "浙江省", name_en: "Zhejiang" },
    Division { code: 340000, name_zh: "安徽省", name_en: "Anhui" },
    Division { code: 350000, name_zh: "福建省", name_en: "Fujian" },
    Division { code: 360000, name_zh: "江西省", name_en: "Jiangxi" },
    Division { code: 370000, name_zh: "山东省", name_en: "Shandong" },
    Division { code: 410000, name_zh: "河南省", name_en: "Henan" },
    Division { code: 420000, name_zh: "湖北省", name_en: "Hubei" },
    Division { code: 430000, name_zh: "湖南省", name_en: "Hunan" },
    Division { code: 440000, name_zh: "广东省", name_en: "Guangdong" },
    Division { code: 450000, name_zh: "广西壮族自治区", name_en: "Guangxi" },
    Division { code: 460000, name_zh: "海南省", name_en: "Hainan" },
    Division { code: 500000, name_zh: "重庆市", name_en: "Chongqing" },
    Division { code: 510000, name_zh: "四川省", name_en: "Sichuan" },
    Division { code: 520000, name_zh: "贵州省", name_en: "Guizhou" },
    Division { code: 530000, name_zh: "云南省", name_en: "Yunnan" },
    Division { code: 540000, name_zh: "西藏自治区", name_en: "Tibet" },
    Division { code: 610000, name_zh: "陕西省", name_en: "Shaanxi" },
    Division { code: 620000, name_zh: "甘肃省", name_en: "Gansu" },
    Division { code: 630000, name_zh: "青海省", name_en: "Qinghai" },
    Division { code: 640000, name_zh: "宁夏回族自治区", name_en: "Ningxia" },
    Division { code: 650000, name_zh: "新疆维吾尔自治区", name_en: "Xinjiang" },
    Division { code: 710000, name_zh: "台湾省", name_en: "Taiwan" },
    Division { code: 810000, name_zh: "香港特别行政区", name_en: "Hong Kong" },
    Division { code: 820000, name_zh: "澳门特别行政区", name_en: "Macau" },
];

#[rustfmt::skip]
const GUANGDONG_CITIES: &[Division] = &[
    Division { code: 440100, name_zh: "广州市", name_en: "Guangzhou" },
    Division { code: 440200, name_zh: "韶关市", name_en: "Shaoguan" },
    Division { code: 440300, name_zh: "深圳市", name_en: "Shenzhen" },
    Division { code: 440400, name_zh: "珠海市", name_en: "Zhuhai" },
    Division { code: 440500, name_zh: "汕头市", name_en: "Shantou" },
    Division { code: 440600, name_zh: "佛山市", name_en: "Foshan" },
    Division { code: 440700, name_zh: "江门市", name_en: "Jiangmen" },
    Division { code: 440800, name_zh: "湛江市", name_en: "Zhanjiang" },
    Division { code: 440900, name_zh: "茂名市", name_en: "Maoming" },
    Division { code: 441200, name_zh: "肇庆市", name_en: "Zhaoqing" },
    Division { code: 441300, name_zh: "惠州市", name_en: "Huizhou" },
    Division { code: 441400, name_zh: "梅州市", name_en: "Meizhou" },
    Division { code: 441500, name_zh: "汕尾市", name_en: "Shanwei" },
    Division { code: 441600, name_zh: "河源市", name_en: "Heyuan" },
    Division { code: 441700, name_zh: "阳江市", name_en: "Yangjiang" },
    Division { code: 441800, name_zh: "清远市", name_en: "Qingyuan" },
    Division { code: 441900, name_zh: "东莞市", name_en: "Dongguan" },
    Division { code: 442000, name_zh: "中山市", name_en: "Zhongshan" },
    Division { code: 445100, name_zh: "潮州市", name_en: "Chaozhou" },
    Division { code: 445200, name_zh: "揭阳市", name_en: "Jieyang" },
    Division { code: 445300, name_zh: "云浮市", name_en: "Yunfu" },
];

#[rustfmt::skip]
const DISTRICTS: &[Division] = &[
    Division { code: 440103, name_zh: "荔湾区", name_en: "Liwan" },
    Division { code: 440104, name_zh: "越秀区", name_en: "Yuexiu" },
    Division { code: 440105, name_zh: "海珠区", name_en: "Haizhu" },
    Division { code: 440106, name_zh: "天河区", name_en: "Tianhe" },
    Division { code: 440111, name_zh: "白云区", name_en: "Baiyun" },
    Division { code: 440112, name_zh: "黄埔区", name_en: "Huangpu" },
    Division { code: 440113, name_zh: "番禺区", name_en: "Panyu" },
    Division { code: 440114, name_zh: "花都区", name_en: "Huadu" },
    Division { code: 440115, name_zh: "南沙区", name_en: "Nansha" },
    Division { code: 440117, name_zh: "从化区", name_en: "Conghua" },
    Division { code: 440118, name_zh: "增城区", name_en: "Zengcheng" },
    Division { code: 440303, name_zh: "罗湖区", name_en: "Luohu" },
    Division { code: 440304, name_zh: "福田区", name_en: "Futian" },
    Division { code: 440305, name_zh: "南山区", name_en: "Nanshan" },
    Division { code: 440306, name_zh: "宝安区", name_en: "Bao'an" },
    Division { code: 440307, name_zh: "龙岗区", name_en: "Longgang" },
    Division { code: 440308, name_zh: "盐田区", name_en: "Yantian" },
    Division { code: 440309, name_zh: "龙华区", name_en: "Longhua" },
    Division { code: 440310, name_zh: "坪山区", name_en: "Pingshan" },
    Division { code: 440311, name_zh: "光明区", name_en: "Guangming" },
];

/// Guangdong's 21 prefecture-level cities.
pub fn guangdong_cities() -> &'static [Division] {
    GUANGDONG_CITIES
}

fn lookup(code: u32) -> Option<&'static Division> {
    PROVINCES
        .iter()
        .chain(GUANGDONG_CITIES)
        .chain(DISTRICTS)
        .find(|d| d.code == code)
}

/// Whether the first two digits of `code` name a province.
pub(crate) fn is_province_prefix(code: u32) -> bool {
    PROVINCES.iter().any(|p| p.code / 10000 == code / 10000)
}

impl DivisionCode {
    pub fn parse(text: &str) -> Result<DivisionCode, DivisionError> {
        let text = text.trim();
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DivisionError::NotDigits);
        }
        let (head, tail) = match text.len() {
            6 => (text, None),
            12 => (text.get(..6).unwrap_or_default(), text.get(6..)),
            n => return Err(DivisionError::Length(n)),
        };
        let code: u32 = head.parse().map_err(|_| DivisionError::NotDigits)?;
        if lookup(code).is_none() {
            return Err(DivisionError::Unknown(code));
        }
        let local = match tail {
            Some(t) => {
                let v: u32 = t.parse().map_err(|_| DivisionError::NotDigits)?;
                (v != 0).then_some(v)
            }
            None => None,
        };
        Ok(DivisionCode { code, local })
    }

    /// The 6-digit code.
    pub fn code(&self) -> u32 {
        self.code
    }

    pub fn level(&self) -> DivisionLevel {
        match self.local {
            Some(l) if l % 1000 == 0 => DivisionLevel::Township,
            Some(_) => DivisionLevel::Village,
            None if self.code % 10000 == 0 => DivisionLevel::Province,
            None if self.code % 100 == 0 => DivisionLevel::City,
            None => DivisionLevel::District,
        }
    }

    /// The known division the 6-digit part names.
    pub fn division(&self) -> Option<&'static Division> {
        lookup(self.code)
    }

    /// The prefecture-level city this division belongs to (itself for a city), or `None` for a
    /// province.
    pub fn city(&self) -> Option<DivisionCode> {
        if self.code % 10000 == 0 {
            return None;
        }
        Some(DivisionCode {
            code: self.code / 100 * 100,
            local: None,
        })
    }

    /// The province this division belongs to.
    pub fn province(&self) -> DivisionCode {
        DivisionCode {
            code: self.code / 10000 * 10000,
            local: None,
        }
    }

    /// This division and those above it, nearest first: district, city, province.
    pub fn ancestry(&self) -> impl Iterator<Item = DivisionCode> {
        let own = DivisionCode {
            code: self.code,
            local: None,
        };
        let city = self.city().filter(|c| *c != own);
        let province = Some(self.province()).filter(|p| *p != own);
        std::iter::once(own).chain(city).chain(province)
    }
}

impl FromStr for DivisionCode {
    type Err = DivisionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DivisionCode::parse(s)
    }
}

impl fmt::Display for DivisionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.local {
            Some(l) => write!(f, "{:06}{:06}", self.code, l),
            None => write!(f, "{:06}", self.code),
        }
    }
}

impl serde::Serialize for DivisionCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DivisionCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DivisionCode::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_twenty_one_cities_and_the_named_districts() {
        assert_eq!(guangdong_cities().len(), 21);
        for d in [
            "440000", "440100", "445300", "440118", "440303", "440311", "110000",
        ] {
            assert!(DivisionCode::parse(d).is_ok(), "{d}");
        }
        assert_eq!(
            DivisionCode::parse("441000"),
            Err(DivisionError::Unknown(441000))
        );
        assert_eq!(DivisionCode::parse("44010"), Err(DivisionError::Length(5)));
        assert_eq!(DivisionCode::parse("44o100"), Err(DivisionError::NotDigits));
    }

    #[test]
    fn levels_and_ancestry() {
        let tianhe = DivisionCode::parse("440106").ok();
        assert_eq!(tianhe.map(|d| d.level()), Some(DivisionLevel::District));
        let up: Vec<String> = tianhe
            .map(|d| d.ancestry().map(|a| a.to_string()).collect())
            .unwrap_or_default();
        assert_eq!(up, ["440106", "440100", "440000"]);
        let gz = DivisionCode::parse("440100").ok();
        assert_eq!(gz.map(|d| d.ancestry().count()), Some(2));
        let village = DivisionCode::parse("440106001002").ok();
        assert_eq!(village.map(|d| d.level()), Some(DivisionLevel::Village));
        assert_eq!(
            village.map(|d| d.to_string()).as_deref(),
            Some("440106001002")
        );
        let township = DivisionCode::parse("440106001000").ok();
        assert_eq!(township.map(|d| d.level()), Some(DivisionLevel::Township));
    }
}
