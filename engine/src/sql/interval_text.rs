//! Interval literals in the forms PostgreSQL reads and writes, translated into the
//! `<number> <unit>` pairs Arrow's parser takes: a time of day (`1 day 02:03:04.5`,
//! `-1:30`, which is also how PostgreSQL prints intervals, so a value read back from
//! it now parses), years-months (`1-2`), ISO 8601 (`P1Y2M3DT4H5M6S`), `@ .. ago`
//! and commas between parts (`1 day, 2:00:00`, Python's spelling). Only literals are
//! translated (`interval '..'`, `'..'::interval`); a text column cast to an interval
//! is parsed by Arrow as it is.

use sqlparser::ast::{DataType, Expr, Interval, Value, ValueWithSpan};

/// Rewrites an interval literal in place.
pub fn normalized(expr: &mut Expr) {
    let literal = match expr {
        Expr::Interval(Interval {
            value,
            leading_field: None,
            last_field: None,
            ..
        }) => value.as_mut(),
        Expr::Cast {
            expr: value,
            data_type: DataType::Interval { fields: None, .. },
            ..
        } => value.as_mut(),
        _ => return,
    };
    if let Expr::Value(ValueWithSpan {
        value: Value::SingleQuotedString(text),
        ..
    }) = literal
    {
        if let Some(translated) = as_unit_pairs(text) {
            *text = translated;
        }
    }
}

/// The interval as unit pairs, or `None` for text with no form to translate (Arrow
/// then reads it, or reports it).
fn as_unit_pairs(text: &str) -> Option<String> {
    let text = text.trim();
    let text = text.strip_prefix('@').map_or(text, str::trim_start);
    if let Some(designators) = text.strip_prefix('P') {
        return iso_8601(designators);
    }
    let mut words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|word| !word.is_empty())
        .collect();
    let ago = words
        .last()
        .is_some_and(|word| word.eq_ignore_ascii_case("ago"));
    if ago {
        words.pop();
    }
    let mut pairs = Vec::new();
    let mut translated = ago;
    let mut index = 0;
    while index < words.len() {
        let word = words[index];
        if let Some(parts) = time_of_day(word).or_else(|| years_months(word)) {
            pairs.extend(parts);
            translated = true;
            index += 1;
        } else if let Some(unit) = words.get(index + 1) {
            pairs.push((word.to_string(), unit.to_string()));
            index += 2;
        } else if is_number(word) {
            // A number alone at the end counts seconds.
            pairs.push((word.to_string(), "seconds".to_string()));
            translated = true;
            index += 1;
        } else {
            return None;
        }
    }
    if !translated {
        return None;
    }
    Some(
        pairs
            .into_iter()
            .map(|(number, unit)| {
                let number = if ago { negated(&number) } else { number };
                format!("{number} {unit}")
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// `[-]h:m[:s[.f]]` as hours, minutes and seconds, each carrying the sign.
fn time_of_day(word: &str) -> Option<Vec<(String, String)>> {
    let (sign, unsigned) = split_sign(word);
    let fields: Vec<&str> = unsigned.split(':').collect();
    let (hours, minutes, seconds) = match fields.as_slice() {
        [hours, minutes] => (*hours, *minutes, "0"),
        [hours, minutes, seconds] => (*hours, *minutes, *seconds),
        _ => return None,
    };
    let digits = |field: &str| !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit());
    let seconds_valid = match seconds.split_once('.') {
        Some((whole, fraction)) => digits(whole) && (fraction.is_empty() || digits(fraction)),
        None => digits(seconds),
    };
    if !(digits(hours) && digits(minutes) && seconds_valid) {
        return None;
    }
    Some(
        [(hours, "hours"), (minutes, "minutes"), (seconds, "seconds")]
            .into_iter()
            .map(|(number, unit)| (format!("{sign}{number}"), unit.to_string()))
            .collect(),
    )
}

/// `[-]y-m` as years and months.
fn years_months(word: &str) -> Option<Vec<(String, String)>> {
    let (sign, unsigned) = split_sign(word);
    let (years, months) = unsigned.split_once('-')?;
    let digits = |field: &str| !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit());
    if !(digits(years) && digits(months)) {
        return None;
    }
    Some(vec![
        (format!("{sign}{years}"), "years".to_string()),
        (format!("{sign}{months}"), "months".to_string()),
    ])
}

/// ISO 8601's designators after the `P`: `1Y2M3W4D` then `T5H6M7.5S`.
fn iso_8601(designators: &str) -> Option<String> {
    let (date, time) = match designators.split_once('T') {
        Some((date, time)) => (date, time),
        None => (designators, ""),
    };
    let mut pairs = Vec::new();
    for (part, units) in [
        (
            date,
            &[
                ('Y', "years"),
                ('M', "months"),
                ('W', "weeks"),
                ('D', "days"),
            ][..],
        ),
        (
            time,
            &[('H', "hours"), ('M', "minutes"), ('S', "seconds")][..],
        ),
    ] {
        let mut rest = part;
        while !rest.is_empty() {
            let end = rest.find(|c: char| c.is_ascii_alphabetic())?;
            let (number, designator) = (&rest[..end], rest[end..].chars().next()?);
            let unit = units.iter().find(|(letter, _)| *letter == designator)?.1;
            if !is_number(number) {
                return None;
            }
            pairs.push(format!("{number} {unit}"));
            rest = &rest[end + 1..];
        }
    }
    (!pairs.is_empty()).then(|| pairs.join(" "))
}

fn split_sign(word: &str) -> (&str, &str) {
    match word.strip_prefix('-') {
        Some(unsigned) => ("-", unsigned),
        None => ("", word.strip_prefix('+').unwrap_or(word)),
    }
}

fn is_number(word: &str) -> bool {
    let unsigned = split_sign(word).1;
    !unsigned.is_empty()
        && unsigned.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && unsigned.bytes().filter(|b| *b == b'.').count() <= 1
        && unsigned != "."
}

fn negated(number: &str) -> String {
    match number.strip_prefix('-') {
        Some(positive) => positive.to_string(),
        None => format!("-{}", number.strip_prefix('+').unwrap_or(number)),
    }
}

#[cfg(test)]
mod tests {
    use super::as_unit_pairs;

    #[test]
    fn postgresql_forms_become_unit_pairs() {
        let cases = [
            (
                "1 month 2 days 23:59:59.5",
                "1 month 2 days 23 hours 59 minutes 59.5 seconds",
            ),
            ("1 day 02:03", "1 day 02 hours 03 minutes 0 seconds"),
            ("-1:30", "-1 hours -30 minutes -0 seconds"),
            ("1-2", "1 years 2 months"),
            (
                "P1Y2M3DT4H5M6.5S",
                "1 years 2 months 3 days 4 hours 5 minutes 6.5 seconds",
            ),
            ("PT36H", "36 hours"),
            ("@ 2 hours 3 minutes ago", "-2 hours -3 minutes"),
            ("1 day, 1:00:00", "1 day 1 hours 00 minutes 00 seconds"),
            ("10", "10 seconds"),
        ];
        for (text, expected) in cases {
            assert_eq!(as_unit_pairs(text).as_deref(), Some(expected), "{text}");
        }
    }

    #[test]
    fn unit_pairs_and_other_text_are_left_to_arrow() {
        for text in [
            "1 day",
            "2 hours 30 minutes",
            "-1 day",
            "1.5 days",
            "nonsense",
            "P",
            "",
        ] {
            assert_eq!(as_unit_pairs(text), None, "{text}");
        }
    }
}
