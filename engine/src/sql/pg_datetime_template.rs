//! PostgreSQL's date and time templates (`'YYYY-MM-DD HH24:MI:SS'`, `'FMMonth
//! DDth'`), for `to_char` of dates and timestamps and for the formats `to_date` and
//! `to_timestamp` parse. DataFusion's functions take chrono's `%Y-%m-%d` instead and
//! copy anything else: `to_char(o_orderdate, 'YYYY-MM')` answered the text
//! `YYYY-MM` for every row.

use chrono::{Datelike, NaiveDateTime, Timelike};

/// One element of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Literal(String),
    Field {
        field: Field,
        /// `FM`: no padding, no leading zeros.
        fill_mode: bool,
        /// `TH` (true) or `th` (false): an ordinal suffix.
        ordinal: Option<bool>,
    },
}

/// How a name is written: `MONTH`, `Month` or `month`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Case {
    Upper,
    Capitalized,
    Lower,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Field {
    Hour24,
    Hour12,
    Minute,
    Second,
    Millisecond,
    Microsecond,
    /// `FF1` to `FF6`: that many digits of the second's fraction.
    Fraction(u8),
    SecondOfDay,
    Meridiem(Case, bool),
    Era(Case, bool),
    YearWithComma,
    /// The last n digits of the year (4: all of it).
    Year(u8),
    IsoYear(u8),
    MonthName(Case),
    MonthAbbreviation(Case),
    Month,
    RomanMonth(Case),
    DayName(Case),
    DayAbbreviation(Case),
    DayOfYear,
    IsoDayOfYear,
    DayOfMonth,
    DayOfWeek,
    IsoDayOfWeek,
    WeekOfMonth,
    WeekOfYear,
    IsoWeek,
    Century,
    JulianDay,
    Quarter,
    TimeZone(Case),
    TimeZoneHours,
    TimeZoneMinutes,
    Offset,
}

/// Keywords in the order they are tried: a longer one before its prefixes.
const KEYWORDS: &[&str] = &[
    "A.D.", "A.M.", "AD", "AM", "B.C.", "BC", "CC", "DAY", "DDD", "DD", "DY", "D", "FF1", "FF2",
    "FF3", "FF4", "FF5", "FF6", "HH24", "HH12", "HH", "IDDD", "ID", "IW", "IYYY", "IYY", "IY", "I",
    "J", "MI", "MM", "MONTH", "MON", "MS", "OF", "P.M.", "PM", "Q", "RM", "SSSSS", "SSSS", "SS",
    "TZH", "TZM", "TZ", "US", "WW", "W", "Y,YYY", "YYYY", "YYY", "YY", "Y",
];

/// The tokens of `template`.
pub fn parse(template: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while !rest.is_empty() {
        let mut fill_mode = false;
        let mut modifiers = rest;
        loop {
            let prefix = modifiers.get(..2).map(str::to_ascii_uppercase);
            match prefix.as_deref() {
                Some("FM") => fill_mode = true,
                Some("FX" | "TM") => {}
                _ => break,
            }
            modifiers = &modifiers[2..];
        }
        if let Some((keyword, spelled)) = keyword_at(modifiers) {
            let after = &modifiers[keyword.len()..];
            let ordinal = match after.get(..2) {
                Some("TH") => Some(true),
                Some("th") => Some(false),
                _ => None,
            };
            let field = field(keyword, case_of(spelled));
            if !literal.is_empty() {
                tokens.push(Token::Literal(std::mem::take(&mut literal)));
            }
            tokens.push(Token::Field {
                field,
                fill_mode,
                ordinal,
            });
            rest = &after[if ordinal.is_some() { 2 } else { 0 }..];
            continue;
        }
        let mut chars = rest.chars();
        match chars.next() {
            Some('"') => {
                // Quoted text is copied; `\"` inside it is a quote.
                let mut quoted = chars.as_str().char_indices();
                let mut end = rest.len();
                while let Some((at, c)) = quoted.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = quoted.next() {
                                literal.push(escaped);
                            }
                        }
                        '"' => {
                            end = 1 + at + 1;
                            break;
                        }
                        other => literal.push(other),
                    }
                }
                rest = &rest[end.min(rest.len())..];
            }
            Some('\\') => {
                let escaped = chars.next();
                literal.extend(escaped);
                rest = chars.as_str();
            }
            Some(c) => {
                literal.push(c);
                rest = chars.as_str();
            }
            None => break,
        }
    }
    if !literal.is_empty() {
        tokens.push(Token::Literal(literal));
    }
    tokens
}

/// The keyword `text` starts with (matched without regard to case) and how it is
/// spelled there.
fn keyword_at(text: &str) -> Option<(&'static str, &str)> {
    KEYWORDS.iter().find_map(|keyword| {
        let spelled = text.get(..keyword.len())?;
        spelled
            .eq_ignore_ascii_case(keyword)
            .then_some((*keyword, spelled))
    })
}

fn case_of(spelled: &str) -> Case {
    let mut letters = spelled.chars().filter(char::is_ascii_alphabetic);
    match (letters.next(), letters.next()) {
        (Some(first), Some(second)) if first.is_ascii_uppercase() => {
            if second.is_ascii_uppercase() {
                Case::Upper
            } else {
                Case::Capitalized
            }
        }
        (Some(first), None) if first.is_ascii_uppercase() => Case::Upper,
        _ => Case::Lower,
    }
}

fn field(keyword: &str, case: Case) -> Field {
    match keyword {
        "A.D." | "B.C." => Field::Era(case, true),
        "AD" | "BC" => Field::Era(case, false),
        "A.M." | "P.M." => Field::Meridiem(case, true),
        "AM" | "PM" => Field::Meridiem(case, false),
        "CC" => Field::Century,
        "DAY" => Field::DayName(case),
        "DDD" => Field::DayOfYear,
        "DD" => Field::DayOfMonth,
        "DY" => Field::DayAbbreviation(case),
        "D" => Field::DayOfWeek,
        "HH24" => Field::Hour24,
        "HH12" | "HH" => Field::Hour12,
        "IDDD" => Field::IsoDayOfYear,
        "ID" => Field::IsoDayOfWeek,
        "IW" => Field::IsoWeek,
        "IYYY" => Field::IsoYear(4),
        "IYY" => Field::IsoYear(3),
        "IY" => Field::IsoYear(2),
        "I" => Field::IsoYear(1),
        "J" => Field::JulianDay,
        "MI" => Field::Minute,
        "MM" => Field::Month,
        "MONTH" => Field::MonthName(case),
        "MON" => Field::MonthAbbreviation(case),
        "MS" => Field::Millisecond,
        "OF" => Field::Offset,
        "Q" => Field::Quarter,
        "RM" => Field::RomanMonth(case),
        "SSSSS" | "SSSS" => Field::SecondOfDay,
        "SS" => Field::Second,
        "TZH" => Field::TimeZoneHours,
        "TZM" => Field::TimeZoneMinutes,
        "TZ" => Field::TimeZone(case),
        "US" => Field::Microsecond,
        "WW" => Field::WeekOfYear,
        "W" => Field::WeekOfMonth,
        "Y,YYY" => Field::YearWithComma,
        "YYYY" => Field::Year(4),
        "YYY" => Field::Year(3),
        "YY" => Field::Year(2),
        "Y" => Field::Year(1),
        fraction => Field::Fraction(fraction.as_bytes()[2] - b'0'),
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const ROMAN: [&str; 12] = [
    "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII",
];

/// `at` written with `tokens`, as PostgreSQL's `to_char` writes it; `zone` is the
/// time zone's name for a timestamp with one (the fields are read in UTC).
pub fn render(tokens: &[Token], at: NaiveDateTime, zone: Option<&str>, out: &mut String) {
    for token in tokens {
        match token {
            Token::Literal(text) => out.push_str(text),
            Token::Field {
                field,
                fill_mode,
                ordinal,
            } => render_field(*field, *fill_mode, *ordinal, at, zone, out),
        }
    }
}

fn render_field(
    field: Field,
    fill_mode: bool,
    ordinal: Option<bool>,
    at: NaiveDateTime,
    zone: Option<&str>,
    out: &mut String,
) {
    let date = at.date();
    // PostgreSQL's years have no zero: 1 BC is year 0 to chrono.
    let year = if date.year() > 0 {
        i64::from(date.year())
    } else {
        1 - i64::from(date.year())
    };
    let number = |value: i64, width: usize, out: &mut String| {
        if fill_mode {
            out.push_str(&value.to_string());
        } else {
            out.push_str(&format!("{value:0width$}"));
        }
        if let Some(upper) = ordinal {
            let suffix = match (value % 100, value % 10) {
                (11..=13, _) => "th",
                (_, 1) => "st",
                (_, 2) => "nd",
                (_, 3) => "rd",
                _ => "th",
            };
            out.push_str(&if upper {
                suffix.to_ascii_uppercase()
            } else {
                suffix.to_string()
            });
        }
    };
    let name = |text: &str, case: Case, width: usize, out: &mut String| {
        let cased = match case {
            Case::Upper => text.to_ascii_uppercase(),
            Case::Capitalized => text.to_string(),
            Case::Lower => text.to_ascii_lowercase(),
        };
        if fill_mode {
            out.push_str(&cased);
        } else {
            out.push_str(&format!("{cased:<width$}"));
        }
    };
    let last_digits = |digits: u32| year % 10_i64.pow(digits);
    let hour12 = match at.hour() % 12 {
        0 => 12,
        hour => hour,
    };
    let micros = i64::from(at.nanosecond() / 1_000);
    let iso = date.iso_week();
    match field {
        Field::Hour24 => number(at.hour().into(), 2, out),
        Field::Hour12 => number(hour12.into(), 2, out),
        Field::Minute => number(at.minute().into(), 2, out),
        Field::Second => number(at.second().into(), 2, out),
        Field::Millisecond => number(micros / 1_000, 3, out),
        Field::Microsecond => number(micros, 6, out),
        Field::Fraction(digits) => {
            let width = usize::from(digits);
            let value = micros / 10_i64.pow(6 - u32::from(digits));
            out.push_str(&format!("{value:0width$}"));
        }
        Field::SecondOfDay => number(at.num_seconds_from_midnight().into(), 0, out),
        Field::Meridiem(case, dots) => {
            let text = match (at.hour() < 12, dots) {
                (true, false) => "AM",
                (false, false) => "PM",
                (true, true) => "A.M.",
                (false, true) => "P.M.",
            };
            name(text, upper_or_lower(case), 0, out);
        }
        Field::Era(case, dots) => {
            let text = match (date.year() > 0, dots) {
                (true, false) => "AD",
                (false, false) => "BC",
                (true, true) => "A.D.",
                (false, true) => "B.C.",
            };
            name(text, upper_or_lower(case), 0, out);
        }
        Field::YearWithComma => {
            out.push_str(&format!("{},{:03}", year / 1000, year % 1000));
        }
        Field::Year(4) => number(year, 4, out),
        Field::Year(digits) => number(last_digits(u32::from(digits)), digits.into(), out),
        Field::IsoYear(digits) => {
            let iso_year = i64::from(iso.year());
            let value = if digits == 4 {
                iso_year
            } else {
                iso_year % 10_i64.pow(u32::from(digits))
            };
            number(value, digits.into(), out);
        }
        Field::MonthName(case) => name(MONTHS[date.month0() as usize], case, 9, out),
        Field::MonthAbbreviation(case) => name(&MONTHS[date.month0() as usize][..3], case, 0, out),
        Field::Month => number(date.month().into(), 2, out),
        Field::RomanMonth(case) => {
            name(ROMAN[date.month0() as usize], upper_or_lower(case), 4, out)
        }
        Field::DayName(case) => name(
            DAYS[date.weekday().num_days_from_sunday() as usize],
            case,
            9,
            out,
        ),
        Field::DayAbbreviation(case) => name(
            &DAYS[date.weekday().num_days_from_sunday() as usize][..3],
            case,
            0,
            out,
        ),
        Field::DayOfYear => number(date.ordinal().into(), 3, out),
        Field::IsoDayOfYear => {
            let day = (iso.week() - 1) * 7 + date.weekday().number_from_monday();
            number(day.into(), 3, out);
        }
        Field::DayOfMonth => number(date.day().into(), 2, out),
        Field::DayOfWeek => number(date.weekday().number_from_sunday().into(), 1, out),
        Field::IsoDayOfWeek => number(date.weekday().number_from_monday().into(), 1, out),
        Field::WeekOfMonth => number(((date.day() - 1) / 7 + 1).into(), 1, out),
        Field::WeekOfYear => number(((date.ordinal() - 1) / 7 + 1).into(), 2, out),
        Field::IsoWeek => number(iso.week().into(), 2, out),
        Field::Century => {
            let year = i64::from(date.year());
            let century = if year > 0 {
                (year + 99) / 100
            } else {
                -((99 - (year - 1)) / 100)
            };
            number(century, 2, out);
        }
        Field::JulianDay => number(i64::from(date.num_days_from_ce()) + 1_721_425, 0, out),
        Field::Quarter => number((date.month0() / 3 + 1).into(), 1, out),
        Field::TimeZone(case) => {
            if let Some(zone) = zone {
                name(zone_name(zone), upper_or_lower(case), 0, out);
            }
        }
        Field::TimeZoneHours | Field::Offset => {
            if zone.is_some() {
                out.push_str("+00");
            }
        }
        Field::TimeZoneMinutes => {
            if zone.is_some() {
                out.push_str("00");
            }
        }
    }
}

/// Names are either all capitals or all small letters in these fields.
fn upper_or_lower(case: Case) -> Case {
    match case {
        Case::Lower => Case::Lower,
        Case::Upper | Case::Capitalized => Case::Upper,
    }
}

/// The fields are read in UTC, so that is the zone they are in.
fn zone_name(_zone: &str) -> &'static str {
    "UTC"
}

/// `template` as a chrono format for parsing (`to_date`, `to_timestamp`), or the
/// part of it that has no chrono equivalent.
pub fn chrono_format(template: &str) -> Result<String, String> {
    let mut format = String::new();
    for token in parse(template) {
        match token {
            Token::Literal(text) => format.push_str(&text.replace('%', "%%")),
            Token::Field { field, .. } => format.push_str(match field {
                Field::Hour24 => "%H",
                Field::Hour12 => "%I",
                Field::Minute => "%M",
                Field::Second => "%S",
                Field::Millisecond | Field::Fraction(3) => "%3f",
                Field::Microsecond | Field::Fraction(6) => "%6f",
                Field::Meridiem(_, false) => "%p",
                Field::Year(4) => "%Y",
                Field::Year(2) => "%y",
                Field::IsoYear(4) => "%G",
                Field::MonthName(_) => "%B",
                Field::MonthAbbreviation(_) => "%b",
                Field::Month => "%m",
                Field::DayName(_) => "%A",
                Field::DayAbbreviation(_) => "%a",
                Field::DayOfYear => "%j",
                Field::DayOfMonth => "%d",
                Field::IsoWeek => "%V",
                Field::IsoDayOfWeek => "%u",
                other => return Err(format!("{other:?}")),
            }),
        }
    }
    Ok(format)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn to_char(at: NaiveDateTime, template: &str) -> String {
        let mut out = String::new();
        render(&parse(template), at, None, &mut out);
        out
    }

    fn at(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32, micros: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|date| date.and_hms_micro_opt(h, mi, s, micros))
            .expect("valid")
    }

    /// Answers of PostgreSQL 16 for the same calls.
    #[test]
    fn renders_as_postgresql() {
        let t = at(2020, 3, 4, 17, 6, 7, 123_456);
        assert_eq!(to_char(t, "YYYY-MM-DD HH24:MI:SS"), "2020-03-04 17:06:07");
        assert_eq!(to_char(t, "YYYY/MM/DD"), "2020/03/04");
        assert_eq!(to_char(t, "HH12:MI AM"), "05:06 PM");
        assert_eq!(to_char(t, "hh:mi:ss.ms pm"), "05:06:07.123 pm");
        assert_eq!(to_char(t, "US FF2"), "123456 12");
        assert_eq!(
            to_char(t, "Month|MONTH|month|Mon|MON|mon"),
            "March    |MARCH    |march    |Mar|MAR|mar"
        );
        assert_eq!(to_char(t, "FMMonth FMDDth, YYYY"), "March 4th, 2020");
        assert_eq!(to_char(t, "Day Dy D ID"), "Wednesday Wed 4 3");
        assert_eq!(
            to_char(t, "DDD IDDD WW IW W Q CC J"),
            "064 066 10 10 1 1 21 2458913"
        );
        assert_eq!(to_char(t, "RM rm FMRM"), "III  iii  III");
        assert_eq!(to_char(t, "Y,YYY YYY YY Y IYYY"), "2,020 020 20 0 2020");
        assert_eq!(
            to_char(t, "\"Quarter\" Q, \"of\" YYYY"),
            "Quarter 1, of 2020"
        );
        assert_eq!(to_char(t, "SSSS AD a.d."), "61567 AD a.d.");
        assert_eq!(to_char(t, "DDTH ddth 1st"), "04TH 04th 1st");
        assert_eq!(
            to_char(at(2021, 1, 1, 0, 0, 0, 0), "IYYY-IW HH12 FMHH24"),
            "2020-53 12 0"
        );
        assert_eq!(
            to_char(at(2020, 1, 11, 0, 0, 0, 0), "FMDDth FMDDth"),
            "11th 11th"
        );
        assert_eq!(to_char(at(2020, 1, 22, 0, 0, 0, 0), "FMDDth"), "22nd");
    }

    #[test]
    fn parse_formats_translate_to_chrono() {
        assert_eq!(chrono_format("YYYY-MM-DD").unwrap(), "%Y-%m-%d");
        assert_eq!(
            chrono_format("DD Mon YYYY HH24:MI:SS").unwrap(),
            "%d %b %Y %H:%M:%S"
        );
        assert_eq!(chrono_format("YYYY%MM").unwrap(), "%Y%%%m");
        assert!(chrono_format("YYYY-MM-DD CC").is_err());
    }
}
