//! PostgreSQL's number templates for `to_char(number, template)`: `9` and `0` digit
//! positions, `.`/`D` decimal point, `,`/`G` group separator, `S`, `MI`, `PL`, `SG`
//! and `PR` signs, `FM` fill mode, `TH` ordinals, `V` shifts, `EEEE` scientific
//! notation, `RN` roman numerals, and any other text copied (double quotes quote
//! it). The layout rules are PostgreSQL's own (`formatting.c`, `NUM_processor`),
//! followed step by step because its output has quirks users' reports depend on:
//! `to_char(0, '9999.99')` is `'     .00'`, `to_char(12, 'FM9999.99')` is `'12.'`,
//! too many digits turn every position into `#`. The locale is C's: `.`, `,`, and
//! a blank currency symbol.

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberTemplate {
    nodes: Vec<Node>,
    desc: Desc,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Digit {
    Nine,
    Zero,
    Point,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Digit(Digit),
    Comma,
    Group,
    Currency,
    Roman {
        upper: bool,
    },
    Ordinal {
        upper: bool,
    },
    Minus,
    Plus,
    SignBoth,
    /// A keyword placed by its flag alone (`S`, `PR`, `V`, `FM`, `EEEE`, `B`, ...).
    Silent,
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LocaleSign {
    None,
    Before,
    After,
}

/// What the template says about the number as a whole (PostgreSQL's `NUMDesc`).
#[derive(Debug, Clone, PartialEq)]
struct Desc {
    pre: usize,
    post: usize,
    lsign: LocaleSign,
    pre_lsign_num: usize,
    multi: usize,
    /// Index of the first `0` digit position before the point, if any.
    zero_start: Option<usize>,
    /// 1-based position of the last `0` digit position.
    zero_end: usize,
    decimal: bool,
    fill: bool,
    locale_sign: bool,
    bracket: bool,
    minus: bool,
    plus: bool,
    roman: bool,
    shifted: bool,
    scientific: bool,
}

/// A value to format.
#[derive(Debug, Clone, Copy)]
pub enum Number {
    Integer(i128),
    /// A numeric: `value / 10^scale`.
    Exact {
        value: i128,
        scale: i8,
    },
    /// A `double precision`, or a `real` (`single`), whose arithmetic and significant
    /// digits are its own.
    Float {
        value: f64,
        single: bool,
    },
}

const KEYWORDS: &[&str] = &[
    "EEEE", "eeee", "FM", "fm", "MI", "mi", "PL", "pl", "PR", "pr", "RN", "rn", "SG", "sg", "SP",
    "sp", "TH", "th", ",", ".", "0", "9", "B", "b", "C", "c", "D", "d", "G", "g", "L", "l", "S",
    "s", "V", "v",
];

impl NumberTemplate {
    /// Parses `template`.
    ///
    /// # Errors
    /// PostgreSQL's complaints, in its words: two decimal points, `S` with another
    /// sign, digits after `PR`, `EEEE` not last, `V` with a decimal point.
    pub fn parse(template: &str) -> Result<NumberTemplate, String> {
        let mut nodes = Vec::new();
        let mut desc = Desc {
            pre: 0,
            post: 0,
            lsign: LocaleSign::None,
            pre_lsign_num: 0,
            multi: 0,
            zero_start: None,
            zero_end: 0,
            decimal: false,
            fill: false,
            locale_sign: false,
            bracket: false,
            minus: false,
            plus: false,
            roman: false,
            shifted: false,
            scientific: false,
        };
        let mut rest = template;
        while let Some(c) = rest.chars().next() {
            if c == '"' {
                let (text, after) = quoted(&rest[1..]);
                nodes.push(Node::Text(text));
                rest = after;
                continue;
            }
            let Some(keyword) = KEYWORDS.iter().find(|k| rest.starts_with(**k)) else {
                nodes.push(Node::Text(c.to_string()));
                rest = &rest[c.len_utf8()..];
                continue;
            };
            rest = &rest[keyword.len()..];
            if desc.scientific && !keyword.eq_ignore_ascii_case("EEEE") {
                return Err("\"EEEE\" must be the last pattern used".into());
            }
            nodes.push(desc.add(keyword)?);
        }
        if desc.scientific
            && (desc.fill
                || desc.locale_sign
                || desc.bracket
                || desc.minus
                || desc.plus
                || desc.roman
                || desc.shifted)
        {
            return Err("\"EEEE\" is incompatible with other formats".into());
        }
        Ok(NumberTemplate { nodes, desc })
    }

    /// `number` formatted.
    pub fn render(&self, number: Number) -> String {
        let mut desc = self.desc.clone();
        if desc.roman {
            return self.roman(number);
        }
        let number = match number {
            // PostgreSQL writes an integer's mantissa through a double, so 25 with
            // `9EEEE` is 2e+01 where 25.0 is 3e+01.
            Number::Integer(value) if desc.scientific => Number::Float {
                value: value as f64,
                single: false,
            },
            Number::Integer(value) => Number::Exact { value, scale: 0 },
            other => other,
        };
        if desc.scientific {
            return scientific(number, desc.pre, desc.post);
        }
        let (digits, negative) = number_text(number, &mut desc);
        let sign = if negative { b'-' } else { b'+' };
        let pre_len = digits.find('.').unwrap_or(digits.len());
        let (digits, out_pre_spaces) = if pre_len > desc.pre {
            let mut overflow = vec![b'#'; desc.pre + desc.post + 1];
            overflow[desc.pre] = b'.';
            (overflow, 0)
        } else {
            (digits.into_bytes(), desc.pre - pre_len)
        };
        Processor::new(&desc, digits, sign, out_pre_spaces).run(&self.nodes)
    }

    fn roman(&self, number: Number) -> String {
        let whole = match number {
            Number::Integer(value) => Some(value),
            Number::Exact { value, scale } => rounded_integer(value, scale),
            // PostgreSQL's `rint`: halves to even, unlike a numeric's rounding.
            Number::Float { value, .. } => Some(value.round_ties_even() as i128),
        };
        let numeral = whole
            .filter(|n| (1..=3999).contains(n))
            .map_or_else(|| "#".repeat(15), |n| roman_numeral(n as usize));
        let mut out = String::new();
        for node in &self.nodes {
            match node {
                Node::Roman { upper } => {
                    let numeral = if *upper {
                        numeral.clone()
                    } else {
                        numeral.to_ascii_lowercase()
                    };
                    if self.desc.fill {
                        out.push_str(&numeral);
                    } else {
                        out.push_str(&format!("{numeral:>15}"));
                    }
                }
                Node::Text(text) => out.push_str(text),
                Node::Currency => out.push(' '),
                _ => {}
            }
        }
        out
    }
}

impl Desc {
    /// Records `keyword` (PostgreSQL's `NUMDesc_prepare`) and returns its node.
    fn add(&mut self, keyword: &str) -> Result<Node, String> {
        let upper = keyword
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase());
        Ok(match keyword.to_ascii_uppercase().as_str() {
            "9" => {
                if self.bracket {
                    return Err("\"9\" must be ahead of \"PR\"".into());
                }
                if self.shifted {
                    self.multi += 1;
                } else if self.decimal {
                    self.post += 1;
                } else {
                    self.pre += 1;
                }
                Node::Digit(Digit::Nine)
            }
            "0" => {
                if self.bracket {
                    return Err("\"0\" must be ahead of \"PR\"".into());
                }
                if self.zero_start.is_none() && !self.decimal {
                    self.zero_start = Some(self.pre);
                }
                if self.decimal {
                    self.post += 1;
                } else {
                    self.pre += 1;
                }
                self.zero_end = self.pre + self.post;
                Node::Digit(Digit::Zero)
            }
            "." | "D" => {
                if self.decimal {
                    return Err("multiple decimal points".into());
                }
                if self.shifted {
                    return Err("cannot use \"V\" and decimal point together".into());
                }
                self.decimal = true;
                Node::Digit(Digit::Point)
            }
            "," => Node::Comma,
            "G" => Node::Group,
            "L" => Node::Currency,
            "FM" => {
                self.fill = true;
                Node::Silent
            }
            "S" => {
                if self.locale_sign {
                    return Err("cannot use \"S\" twice".into());
                }
                if self.plus || self.minus || self.bracket {
                    return Err("cannot use \"S\" and \"PL\"/\"MI\"/\"SG\"/\"PR\" together".into());
                }
                if !self.decimal {
                    self.lsign = LocaleSign::Before;
                    self.pre_lsign_num = self.pre;
                } else if self.lsign == LocaleSign::None {
                    self.lsign = LocaleSign::After;
                }
                self.locale_sign = true;
                Node::Silent
            }
            sign @ ("MI" | "PL" | "SG") => {
                if self.locale_sign {
                    return Err(format!("cannot use \"S\" and \"{sign}\" together"));
                }
                match sign {
                    "MI" => {
                        self.minus = true;
                        Node::Minus
                    }
                    "PL" => {
                        self.plus = true;
                        Node::Plus
                    }
                    _ => {
                        self.minus = true;
                        self.plus = true;
                        Node::SignBoth
                    }
                }
            }
            "PR" => {
                if self.locale_sign || self.plus || self.minus {
                    return Err("cannot use \"PR\" and \"S\"/\"PL\"/\"MI\"/\"SG\" together".into());
                }
                self.bracket = true;
                Node::Silent
            }
            "RN" => {
                self.roman = true;
                Node::Roman { upper }
            }
            "TH" => Node::Ordinal { upper },
            "V" => {
                if self.decimal {
                    return Err("cannot use \"V\" and decimal point together".into());
                }
                self.shifted = true;
                Node::Silent
            }
            "EEEE" => {
                if self.scientific {
                    return Err("cannot use \"EEEE\" twice".into());
                }
                self.scientific = true;
                Node::Silent
            }
            // `B`, `C` and `SP` are keywords PostgreSQL reserves and prints nothing for.
            _ => Node::Silent,
        })
    }
}

/// The text up to the closing quote (a backslash escapes the next character), and
/// what follows it.
fn quoted(rest: &str) -> (String, &str) {
    let mut text = String::new();
    let mut chars = rest.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return (text, &rest[at + 1..]),
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    text.push(escaped);
                }
            }
            c => text.push(c),
        }
    }
    (text, "")
}

/// The unsigned digits of `number` rounded to `desc.post` decimals (and shifted by
/// `V`), as PostgreSQL prints them before laying them out, and whether it is
/// negative after rounding.
fn number_text(number: Number, desc: &mut Desc) -> (String, bool) {
    match number {
        Number::Exact { value, scale } => {
            let scale = i32::from(scale) - desc.multi as i32;
            desc.pre += desc.multi;
            let (integer, fraction) = split_digits(value.unsigned_abs(), scale);
            let (integer, fraction) = round_half_away(&integer, &fraction, desc.post);
            let zero = integer == "0" && fraction.bytes().all(|b| b == b'0');
            let text = if desc.post == 0 {
                integer
            } else {
                format!("{integer}.{fraction}")
            };
            (text, value < 0 && !zero)
        }
        Number::Integer(value) => number_text(Number::Exact { value, scale: 0 }, desc),
        Number::Float { value, single } => {
            let mut value = value;
            if desc.shifted {
                value = if single {
                    f64::from(value as f32 * 10f32.powi(desc.multi as i32))
                } else {
                    value * 10f64.powi(desc.multi as i32)
                };
                desc.pre += desc.multi;
            }
            // `FLT_DIG` and `DBL_DIG`: digits past them are noise.
            let digits = if single { 6 } else { 15 };
            if value.is_infinite() {
                // More integer digits than any template has: every position is `#`.
                return ("9".repeat(desc.pre + 1), value < 0.0);
            }
            if value.is_nan() {
                return ("NaN".to_string(), false);
            }
            let integer_digits = format!("{:.0}", value.abs()).len();
            if integer_digits >= digits {
                desc.post = 0;
            } else if integer_digits + desc.post > digits {
                desc.post = digits - integer_digits;
            }
            let text = format!("{:.*}", desc.post, value);
            match text.strip_prefix('-') {
                Some(unsigned) => (unsigned.to_string(), true),
                None => (text, false),
            }
        }
    }
}

/// The integer and fraction digits of `magnitude / 10^scale`.
fn split_digits(magnitude: u128, scale: i32) -> (String, String) {
    let digits = magnitude.to_string();
    if scale <= 0 {
        let integer = format!("{digits}{}", "0".repeat(scale.unsigned_abs() as usize));
        return (trim_leading_zeros(integer), String::new());
    }
    let scale = scale as usize;
    if digits.len() > scale {
        let (integer, fraction) = digits.split_at(digits.len() - scale);
        (integer.to_string(), fraction.to_string())
    } else {
        ("0".to_string(), format!("{digits:0>scale$}"))
    }
}

fn trim_leading_zeros(digits: String) -> String {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".to_string()
    } else {
        trimmed.to_string()
    }
}

/// `integer.fraction` rounded half away from zero to `places` decimals.
fn round_half_away(integer: &str, fraction: &str, places: usize) -> (String, String) {
    if fraction.len() <= places {
        return (integer.to_string(), format!("{fraction:0<places$}"));
    }
    let round_up = fraction.as_bytes()[places] >= b'5';
    let mut digits: Vec<u8> = integer
        .bytes()
        .chain(fraction.bytes().take(places))
        .collect();
    if round_up {
        let mut at = digits.len();
        loop {
            if at == 0 {
                digits.insert(0, b'1');
                break;
            }
            at -= 1;
            if digits[at] == b'9' {
                digits[at] = b'0';
            } else {
                digits[at] += 1;
                break;
            }
        }
    }
    let split = digits.len() - places;
    let fraction = String::from_utf8_lossy(&digits[split..]).into_owned();
    let integer = trim_leading_zeros(String::from_utf8_lossy(&digits[..split]).into_owned());
    (integer, fraction)
}

fn rounded_integer(value: i128, scale: i8) -> Option<i128> {
    let (integer, fraction) = split_digits(value.unsigned_abs(), i32::from(scale));
    let (integer, _) = round_half_away(&integer, &fraction, 0);
    let magnitude: i128 = integer.parse().ok()?;
    Some(if value < 0 { -magnitude } else { magnitude })
}

fn roman_numeral(mut n: usize) -> String {
    const PARTS: [(usize, &str); 13] = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let mut out = String::new();
    for (value, text) in PARTS {
        while n >= value {
            out.push_str(text);
            n -= value;
        }
    }
    out
}

/// `EEEE`: one digit before the point, `places` after, a signed two-digit exponent,
/// and a blank where a positive number's sign would be.
fn scientific(number: Number, pre: usize, places: usize) -> String {
    let body = match number {
        Number::Integer(value) => Some(exact_scientific(value, 0, places)),
        Number::Exact { value, scale } => Some(exact_scientific(value, scale, places)),
        Number::Float { value, .. } if value.is_finite() => {
            let text = format!("{:.*e}", places, value.abs());
            let (mantissa, exponent) = text.split_once('e').expect("scientific notation");
            let exponent: i32 = exponent.parse().expect("exponent");
            Some((value < 0.0, format!("{mantissa}e{exponent:+03}")))
        }
        Number::Float { .. } => None,
    };
    match body {
        Some((true, text)) => format!("-{text}"),
        Some((false, text)) => format!(" {text}"),
        None => {
            let mut overflow = vec![b'#'; pre + places + 6];
            overflow[0] = b' ';
            overflow[pre + 1] = b'.';
            String::from_utf8_lossy(&overflow).into_owned()
        }
    }
}

/// PostgreSQL's `numeric_out_sci`: the exponent is taken before rounding, so
/// 999.995 with two places is `10.00e+02`.
fn exact_scientific(value: i128, scale: i8, places: usize) -> (bool, String) {
    let digits = value.unsigned_abs().to_string();
    if value == 0 {
        let fraction = "0".repeat(places);
        let point = if places > 0 { "." } else { "" };
        return (false, format!("0{point}{fraction}e+00"));
    }
    let exponent = digits.len() as i32 - 1 - i32::from(scale);
    let (integer, fraction) = digits.split_at(1);
    let (integer, fraction) = round_half_away(integer, fraction, places);
    let point = if places > 0 { "." } else { "" };
    (
        value < 0,
        format!("{integer}{point}{fraction}e{exponent:+03}"),
    )
}

/// PostgreSQL's `NUM_processor` for `to_char`, one template node at a time.
struct Processor<'a> {
    desc: &'a Desc,
    number: Vec<u8>,
    at: usize,
    last_relevant: Option<usize>,
    sign: u8,
    sign_wrote: bool,
    bracket: bool,
    lsign: LocaleSign,
    num_count: usize,
    out_pre_spaces: usize,
    num_curr: usize,
    num_in: bool,
    out: Vec<u8>,
}

impl<'a> Processor<'a> {
    fn new(desc: &'a Desc, number: Vec<u8>, sign: u8, out_pre_spaces: usize) -> Self {
        let mut bracket = desc.bracket;
        let mut lsign = desc.lsign;
        let sign_wrote = if desc.plus || desc.minus {
            // `PL` alone still leaves a minus to the digits; `MI` or `SG` write it.
            desc.minus
        } else {
            if sign != b'-' && desc.fill {
                bracket = false;
            }
            if lsign == LocaleSign::Before && desc.pre == desc.pre_lsign_num {
                lsign = LocaleSign::After;
            }
            sign == b'+' && desc.fill && !desc.locale_sign
        };
        let mut processor = Processor {
            desc,
            number,
            at: 0,
            last_relevant: None,
            sign,
            sign_wrote,
            bracket,
            lsign,
            num_count: (desc.post + desc.pre).saturating_sub(1),
            out_pre_spaces,
            num_curr: 0,
            num_in: false,
            out: Vec::new(),
        };
        if desc.fill && desc.decimal {
            processor.last_relevant = processor.last_relevant_decimal();
            if let Some(last) = processor.last_relevant {
                if desc.zero_end > out_pre_spaces {
                    let last_zero =
                        (processor.number.len() - 1).min(desc.zero_end - out_pre_spaces);
                    processor.last_relevant = Some(last.max(last_zero));
                }
            }
        }
        if !processor.sign_wrote && out_pre_spaces == 0 {
            processor.num_count += 1;
        }
        processor
    }

    /// The point, or the last non-zero digit after it (what `FM` keeps).
    fn last_relevant_decimal(&self) -> Option<usize> {
        let point = self.number.iter().position(|&b| b == b'.')?;
        Some(
            (point + 1..self.number.len())
                .rfind(|&i| self.number[i] != b'0')
                .unwrap_or(point),
        )
    }

    fn current(&self) -> u8 {
        self.number.get(self.at).copied().unwrap_or(0)
    }

    fn last_relevant_is_point(&self) -> bool {
        self.last_relevant
            .is_some_and(|at| self.number.get(at) == Some(&b'.'))
    }

    /// PostgreSQL's `IS_PREDEC_SPACE`: the `0` of `0.x` is left blank.
    fn blank_before_point(&self) -> bool {
        self.desc.zero_start.is_none()
            && self.at == 0
            && self.number.first() == Some(&b'0')
            && self.desc.post != 0
    }

    fn zero_from(&self, position: usize) -> bool {
        self.desc.zero_start.is_some_and(|start| start <= position)
    }

    fn run(mut self, nodes: &[Node]) -> String {
        for node in nodes {
            match node {
                Node::Digit(digit) => self.digit(*digit),
                Node::Comma | Node::Group => {
                    if self.num_in {
                        self.out.push(b',');
                    } else if !self.desc.fill {
                        self.out.push(b' ');
                    }
                }
                Node::Currency => self.out.push(b' '),
                Node::Ordinal { upper } => {
                    if self.number.first() != Some(&b'#') && self.sign != b'-' && !self.desc.decimal
                    {
                        let suffix = ordinal_suffix(&self.number);
                        let suffix = if *upper {
                            suffix.to_ascii_uppercase()
                        } else {
                            suffix.to_string()
                        };
                        self.out.extend_from_slice(suffix.as_bytes());
                    }
                }
                Node::Minus => {
                    if self.sign == b'-' {
                        self.out.push(b'-');
                    } else if !self.desc.fill {
                        self.out.push(b' ');
                    }
                }
                Node::Plus => {
                    if self.sign == b'+' {
                        self.out.push(b'+');
                    } else if !self.desc.fill {
                        self.out.push(b' ');
                    }
                }
                Node::SignBoth => self.out.push(self.sign),
                Node::Text(text) => self.out.extend_from_slice(text.as_bytes()),
                Node::Roman { .. } | Node::Silent => {}
            }
        }
        // PostgreSQL writes the digits' terminating NUL when the template has more
        // positions than the number has characters (a NaN): the text ends there.
        if let Some(end) = self.out.iter().position(|&b| b == 0) {
            self.out.truncate(end);
        }
        String::from_utf8_lossy(&self.out).into_owned()
    }

    fn digit(&mut self, digit: Digit) {
        self.num_in = false;
        let position = self.num_curr;
        let sign_due = position >= self.out_pre_spaces || self.desc.zero_start == Some(position);
        if !self.sign_wrote
            && sign_due
            && (!self.blank_before_point() || self.last_relevant_is_point())
        {
            self.write_leading_sign();
        }
        if position < self.out_pre_spaces && !self.zero_from(position) {
            if !self.desc.fill {
                self.out.push(b' ');
            }
        } else if position < self.out_pre_spaces {
            self.out.push(b'0');
            self.num_in = true;
        } else {
            if self.current() == b'.' {
                if !self.last_relevant_is_point() || self.desc.fill {
                    self.out.push(b'.');
                }
            } else if self.last_relevant.is_some_and(|last| self.at > last) && digit != Digit::Zero
            {
            } else if self.blank_before_point() {
                if !self.desc.fill {
                    self.out.push(b' ');
                } else if self.last_relevant_is_point() {
                    self.out.push(b'0');
                }
            } else {
                self.out.push(self.current());
                self.num_in = true;
            }
            if self.current() != 0 {
                self.at += 1;
            }
        }
        let mut end =
            self.num_count + usize::from(self.out_pre_spaces != 0) + usize::from(self.desc.decimal);
        if self.last_relevant == Some(self.at) {
            end = position;
        }
        if position + 1 == end {
            if self.sign_wrote && self.bracket {
                self.out.push(if self.sign == b'+' { b' ' } else { b'>' });
            } else if self.desc.locale_sign && self.lsign == LocaleSign::After {
                self.out.push(self.sign);
            }
        }
        self.num_curr += 1;
    }

    fn write_leading_sign(&mut self) {
        if self.desc.locale_sign {
            if self.lsign == LocaleSign::Before {
                self.out.push(self.sign);
                self.sign_wrote = true;
            }
        } else if self.bracket {
            self.out.push(if self.sign == b'+' { b' ' } else { b'<' });
            self.sign_wrote = true;
        } else if self.sign == b'+' {
            if !self.desc.fill {
                self.out.push(b' ');
            }
            self.sign_wrote = true;
        } else {
            self.out.push(b'-');
            self.sign_wrote = true;
        }
    }
}

/// `st`, `nd`, `rd` or `th` for the integer the digits end with (teens take `th`).
fn ordinal_suffix(number: &[u8]) -> &'static str {
    let integer_end = number
        .iter()
        .position(|&b| b == b'.')
        .unwrap_or(number.len());
    let integer = &number[..integer_end];
    let Some(&last) = integer.last() else {
        return "th";
    };
    if integer.len() > 1 && integer[integer.len() - 2] == b'1' {
        return "th";
    }
    match last {
        b'1' => "st",
        b'2' => "nd",
        b'3' => "rd",
        _ => "th",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(value: i128, scale: i8, template: &str) -> String {
        NumberTemplate::parse(template)
            .unwrap()
            .render(Number::Exact { value, scale })
    }

    /// Each case as PostgreSQL 15 answers it.
    #[test]
    fn layouts_match_postgresql() {
        let cases: &[(i128, i8, &str, &str)] = &[
            (12345, 1, "9999.99", " 1234.50"),
            (-12345, 1, "9999.99", "-1234.50"),
            (0, 0, "9999.99", "     .00"),
            (-1, 1, "9999.99", "    -.10"),
            (5, 3, "9999.99", "     .01"),
            (12, 0, "0000.00", " 0012.00"),
            (-12, 0, "0000.00", "-0012.00"),
            (12, 0, "FM9999.99", "12."),
            (0, 0, "FM9999.99", "0."),
            (5, 3, "FM9999.99", ".01"),
            (12345, 1, "FM9,999.99", "1,234.5"),
            (-12, 0, "9,999.99", "   -12.00"),
            (12, 0, "S9999.99", "  +12.00"),
            (-12, 0, "9999.99S", "  12.00-"),
            (-12, 0, "9999MI", "  12-"),
            (-12, 0, "MI9999", "-  12"),
            (-12, 0, "PL9999", "   -12"),
            (12, 0, "PL9999", "+   12"),
            (12, 0, "SG9999", "+  12"),
            (-12, 0, "9999PR", "  <12>"),
            (12, 0, "9999PR", "   12 "),
            (12, 0, "FM9999PR", "12"),
            (-12, 0, "FM9999PR", "<12>"),
            (12345, 0, "9999.99", " ####.##"),
            (12, 0, "999th", "  12th"),
            (1, 0, "FM999TH", "1ST"),
            (125, 1, "FM00th", "13th"),
            (-12, 0, "999V99", " -1200"),
            (5, 3, "999V99", "     1"),
            (15, 1, "9V9", " 15"),
            (12345, 1, "RN", "        MCCXXXV"),
            (3999, 0, "rn", "      mmmcmxcix"),
            (3, 0, "FMRN", "III"),
            (0, 0, "RN", "###############"),
            (12345, 1, "9.99EEEE", " 1.23e+03"),
            (999995, 3, "9.99EEEE", " 10.00e+02"),
            (-1, 1, "9.99EEEE", "-1.00e-01"),
            (0, 0, "9.99EEEE", " 0.00e+00"),
            (1, 1, "0.99", " 0.10"),
            (1, 1, ".99", " .##"),
            (9999950, 4, "FM990.009", "999.995"),
            (12, 0, "FM990.009", "12.00"),
            (1234567, 0, "9G999", " #,###"),
            (485, 0, "\"Pre:\"999\" Post: .\"999", "Pre:    Post: . 485"),
            (12, 0, "999 text", "  12 text"),
            (12, 0, "L999", "   12"),
            (-1, 4, "FM9.9999", "-.0001"),
            (0, 0, "9", " 0"),
            (-1, 1, "999", "   0"),
            (12, 0, "", ""),
        ];
        for (value, scale, template, expected) in cases {
            assert_eq!(
                exact(*value, *scale, template),
                *expected,
                "to_char({value}e-{scale}, '{template}')"
            );
        }
    }

    #[test]
    fn floats_round_as_printf_and_keep_their_significant_digits() {
        let render = |value: f64, single: bool, template: &str| {
            NumberTemplate::parse(template)
                .unwrap()
                .render(Number::Float { value, single })
        };
        assert_eq!(render(-0.1, false, "999"), "  -0");
        assert_eq!(render(1234.5, true, "9999.99"), " 1234.50");
        assert_eq!(render(f64::NAN, false, "999.99"), " NaN");
        assert_eq!(render(f64::INFINITY, false, "999.99"), " ###.##");
        assert_eq!(render(999.995, false, "9.99EEEE"), " 1.00e+03");
        assert_eq!(
            render(123_456_789_012_345_678.0, false, "999999999999999999.99"),
            " 123456789012345680"
        );
        // A real is shifted in single precision: 999.995f * 100 is 99999.5, then 100000.
        assert_eq!(render(f64::from(999.995f32), true, "999V99"), " #####");
        let integer = |value: i128, template: &str| {
            NumberTemplate::parse(template)
                .unwrap()
                .render(Number::Integer(value))
        };
        assert_eq!(integer(12345, "99.999EEEE"), " 1.234e+04");
        assert_eq!(integer(25, "9EEEE"), " 2e+01");
        assert_eq!(integer(-12, "9999PR"), "  <12>");
    }

    #[test]
    fn malformed_templates_are_refused_in_postgresql_words() {
        for (template, message) in [
            ("9.9.9", "multiple decimal points"),
            ("9EEEE9", "\"EEEE\" must be the last pattern used"),
            ("S9MI", "cannot use \"S\" and \"MI\" together"),
            ("9V9.9", "cannot use \"V\" and decimal point together"),
            ("PR9", "\"9\" must be ahead of \"PR\""),
        ] {
            assert_eq!(
                NumberTemplate::parse(template).unwrap_err(),
                message,
                "{template}"
            );
        }
    }
}
