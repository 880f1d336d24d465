//! Punycode (RFC 3492), for host-name labels written `xn--…`.
//!
//! Programs that apply IDNA (Python's `socket.getaddrinfo`, `getaddrinfo` with `AI_IDN`) hand the
//! resolver `xn--caf-dma` where the user typed `café`; we turn it back into the classifier's text.

const BASE: u32 = 36;
const T_MIN: u32 = 1;
const T_MAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;
const INITIAL_BIAS: u32 = 72;
const INITIAL_N: u32 = 128;

/// Why a label is not valid punycode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid punycode")]
pub struct PunycodeError;

fn adapt(mut delta: u32, num_points: u32, first_time: bool) -> u32 {
    delta /= if first_time { DAMP } else { 2 };
    delta += delta / num_points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (((BASE - T_MIN + 1) * delta) / (delta + SKEW))
}

fn threshold(k: u32, bias: u32) -> u32 {
    if k <= bias {
        T_MIN
    } else if k >= bias + T_MAX {
        T_MAX
    } else {
        k - bias
    }
}

fn digit_value(byte: u8) -> Option<u32> {
    match byte {
        b'a'..=b'z' => Some(u32::from(byte - b'a')),
        b'A'..=b'Z' => Some(u32::from(byte - b'A')),
        b'0'..=b'9' => Some(u32::from(byte - b'0') + 26),
        _ => None,
    }
}

fn digit_char(digit: u32) -> char {
    // Callers pass digits below 36 only.
    let digit = digit as u8;
    if digit < 26 {
        char::from(b'a' + digit)
    } else {
        char::from(b'0' + digit - 26)
    }
}

/// Decodes the part of a label after `xn--`.
pub fn decode(input: &str) -> Result<String, PunycodeError> {
    if !input.is_ascii() {
        return Err(PunycodeError);
    }
    let (basic, extended) = match input.rfind('-') {
        Some(position) => (&input[..position], &input[position + 1..]),
        None => ("", input),
    };
    let mut output: Vec<char> = basic.chars().collect();
    let mut n = INITIAL_N;
    let mut bias = INITIAL_BIAS;
    let mut i: u32 = 0;
    let mut bytes = extended.bytes().peekable();
    while bytes.peek().is_some() {
        let old_i = i;
        let mut weight: u32 = 1;
        let mut k = BASE;
        loop {
            let digit = digit_value(bytes.next().ok_or(PunycodeError)?).ok_or(PunycodeError)?;
            i = i
                .checked_add(digit.checked_mul(weight).ok_or(PunycodeError)?)
                .ok_or(PunycodeError)?;
            let t = threshold(k, bias);
            if digit < t {
                break;
            }
            weight = weight.checked_mul(BASE - t).ok_or(PunycodeError)?;
            k += BASE;
        }
        let length = u32::try_from(output.len() + 1).map_err(|_| PunycodeError)?;
        bias = adapt(i - old_i, length, old_i == 0);
        n = n.checked_add(i / length).ok_or(PunycodeError)?;
        i %= length;
        let character = char::from_u32(n).ok_or(PunycodeError)?;
        if character.is_ascii() {
            return Err(PunycodeError);
        }
        output.insert(i as usize, character);
        i += 1;
    }
    Ok(output.into_iter().collect())
}

/// Encodes a label's text (the `xn--` prefix is not added).
pub fn encode(input: &str) -> String {
    let code_points: Vec<u32> = input.chars().map(u32::from).collect();
    let mut output: String = input.chars().filter(char::is_ascii).collect();
    let basic_count = output.len() as u32;
    let mut handled = basic_count;
    if basic_count > 0 {
        output.push('-');
    }
    let mut n = INITIAL_N;
    let mut delta: u32 = 0;
    let mut bias = INITIAL_BIAS;
    let total = code_points.len() as u32;
    while handled < total {
        let next = code_points
            .iter()
            .copied()
            .filter(|&point| point >= n)
            .min()
            .unwrap_or(n);
        delta += (next - n) * (handled + 1);
        n = next;
        for &point in &code_points {
            if point < n {
                delta += 1;
            }
            if point == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = threshold(k, bias);
                    if q < t {
                        break;
                    }
                    output.push(digit_char(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                output.push(digit_char(q));
                bias = adapt(delta, handled + 1, handled == basic_count);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_examples() {
        let cases = [
            ("café", "caf-dma"),
            ("bücher", "bcher-kva"),
            ("münchen", "mnchen-3ya"),
            ("ليهمابتكلموشعربي؟", "egbpdaj6bu4bxfgehfvwxn"),
            ("他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"),
            ("😀", "e28h"),
        ];
        for (text, encoded) in cases {
            assert_eq!(encode(text), encoded, "{text}");
            assert_eq!(decode(encoded).unwrap(), text, "{encoded}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["!!", "a-", "99999999999", "é", "abc-9"] {
            let _ = decode(bad);
        }
        assert!(decode("é").is_err());
        assert!(decode("zzzzzzzzzzzzzzzzzzzzz").is_err());
    }
}
