//! Text edits (IR text, pipeline YAML): numbers replaced by huge, negative, NaN or
//! out-of-range values, lines duplicated, deleted or swapped, brackets nested thousands
//! deep, and one word replaced by another of the same text.

use super::Rng;
use rand::RngExt;

/// Numbers that break parsers and bounds: integer edges, overflow, NaN, infinities
/// (in Rust's, JSON's and YAML's spellings), and a float that overflows f64.
const NUMBERS: [&str; 24] = [
    "0",
    "-1",
    "1",
    "65536",
    "2147483647",
    "2147483648",
    "-2147483649",
    "4294967296",
    "1000000000",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "-9223372036854775808",
    "1e400",
    "-1e400",
    "1e-400",
    "NaN",
    "nan",
    ".nan",
    "inf",
    "-inf",
    ".inf",
    "-0.0",
];

/// Nesting depths to try.
const DEPTHS: [usize; 5] = [64, 512, 4096, 20_000, 100_000];

/// One edit of the text `data` (as bytes: it need not be UTF-8).
pub fn edit(mut data: Vec<u8>, rng: &mut Rng) -> Vec<u8> {
    match rng.random_range(0..10) {
        0..=3 => number(&mut data, rng),
        4..=6 => return lines(&data, rng),
        7 => nest(&mut data, rng),
        _ => word(&mut data, rng),
    }
    data
}

/// Replaces a number with one of [`NUMBERS`], its negation or itself times 1000.
fn number(data: &mut Vec<u8>, rng: &mut Rng) {
    let spans = numbers(data);
    if spans.is_empty() {
        return nest(data, rng);
    }
    let (start, end) = spans[rng.random_range(0..spans.len())];
    let old = data[start..end].to_vec();
    let new: Vec<u8> = match rng.random_range(0..8) {
        0 => [b"-".as_slice(), &old].concat(),
        1 => [old.as_slice(), b"000"].concat(),
        _ => NUMBERS[rng.random_range(0..NUMBERS.len())].into(),
    };
    data.splice(start..end, new);
}

/// Where the numbers are: digits (with a sign, fraction and exponent) not inside a
/// word, so `%t12` and `conv2d` are left alone.
fn numbers(data: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let word_before =
            i > 0 && (data[i - 1].is_ascii_alphanumeric() || b"_.%".contains(&data[i - 1]));
        let digit_at = |k: usize| data.get(k).is_some_and(u8::is_ascii_digit);
        let starts = digit_at(i) || (data[i] == b'-' && digit_at(i + 1));
        if word_before || !starts {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < data.len() && (data[i].is_ascii_digit() || data[i] == b'.') {
            i += 1;
        }
        if i < data.len() && (data[i] == b'e' || data[i] == b'E') {
            let sign = usize::from(data.get(i + 1).is_some_and(|c| b"+-".contains(c)));
            if digit_at(i + 1 + sign) {
                i += 1 + sign;
                while digit_at(i) {
                    i += 1;
                }
            }
        }
        spans.push((start, i));
    }
    spans
}

/// Duplicates (up to 64 times), deletes or swaps lines.
fn lines(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    if lines.is_empty() {
        return data.to_vec();
    }
    let at = rng.random_range(0..lines.len());
    match rng.random_range(0..3) {
        0 => {
            let copies = if rng.random_bool(0.8) {
                1
            } else {
                rng.random_range(2..=64)
            };
            let to = rng.random_range(0..=lines.len());
            for _ in 0..copies {
                lines.insert(to, lines[at]);
            }
        }
        1 => drop(lines.remove(at)),
        _ => {
            let other = rng.random_range(0..lines.len());
            lines.swap(at, other);
        }
    }
    lines.concat()
}

/// Opens brackets thousands deep after a `:`, `=`, `(`, `[` or `{` (or anywhere), and
/// half of the time closes them.
fn nest(data: &mut Vec<u8>, rng: &mut Rng) {
    let after: Vec<usize> = (0..data.len())
        .filter(|&i| b":=([{".contains(&data[i]))
        .map(|i| i + 1)
        .collect();
    let at = match after.is_empty() {
        true => rng.random_range(0..=data.len()),
        false => after[rng.random_range(0..after.len())],
    };
    let (open, close) = [(b'[', b']'), (b'{', b'}'), (b'(', b')')][rng.random_range(0..3)];
    let depth = DEPTHS[rng.random_range(0..DEPTHS.len())];
    let mut nested = vec![open; depth];
    if rng.random_bool(0.5) {
        nested.extend(std::iter::repeat_n(close, depth));
    }
    data.splice(at..at, nested);
}

/// Replaces a word (op, type, key or name) with another word of the same text.
fn word(data: &mut Vec<u8>, rng: &mut Rng) {
    let mut words = Vec::new();
    let mut i = 0;
    while i < data.len() {
        if data[i].is_ascii_alphabetic() || data[i] == b'_' {
            let start = i;
            while i < data.len() && (data[i].is_ascii_alphanumeric() || b"_-".contains(&data[i])) {
                i += 1;
            }
            words.push((start, i));
        } else {
            i += 1;
        }
    }
    if words.len() < 2 {
        return number(data, rng);
    }
    let (start, end) = words[rng.random_range(0..words.len())];
    let (from, to) = words[rng.random_range(0..words.len())];
    let new = data[from..to].to_vec();
    data.splice(start..end, new);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_skip_names() {
        let text = b"%t12: f32[1,-8] = conv2d {\"eps\":1.5e-3}";
        let found: Vec<&[u8]> = numbers(text).iter().map(|&(s, e)| &text[s..e]).collect();
        assert_eq!(found, [b"1".as_slice(), b"-8", b"1.5e-3"]);
    }
}
