//! How numbers, ages, sizes and names are written on the wall: short, for
//! reading across a room, in the ASCII the built-in font can draw.

/// "3m 12s" style age.
pub fn age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s / 60) % 60),
    }
}

/// `s` as the built-in font can draw it (ASCII; anything else shows as `?`), at most `max` characters.
pub fn ascii(s: &str, max: usize) -> String {
    s.chars().map(|c| if c.is_ascii() { c } else { '?' }).take(max).collect()
}

/// The device name as it fits in `max_chars` (the built-in font is ASCII
/// only): whole when it fits, else its end, which tells devices apart.
pub fn fitted_name(name: &str, max_chars: usize) -> String {
    let ascii: String = name.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
    let n = ascii.chars().count();
    if n <= max_chars { ascii } else { ascii.chars().skip(n - max_chars.max(1)).collect() }
}

/// "1.2k" style.
pub fn short(v: f32) -> String {
    match v {
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e4 => format!("{:.0}k", v / 1e3),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}

/// "3m 20s" for seconds.
pub fn duration(s: u64) -> String {
    age(s * 1000)
}

/// "1.5 MB" for bytes.
pub fn bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.0} kB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_well() {
        assert_eq!(age(5_400), "5s");
        assert_eq!(age(192_000), "3m 12s");
        assert_eq!(age(7_260_000), "2h 01m");
    }

    #[test]
    fn names_keep_their_end_and_sizes_their_unit() {
        assert_eq!(fitted_name("lobby-screen-042", 6), "en-042");
        assert_eq!(fitted_name("caf\u{e9}", 10), "caf?");
        assert_eq!(ascii("na\u{ef}ve text", 5), "na?ve");
        assert_eq!(bytes(1536), "2 kB");
        assert_eq!(bytes(3 << 20), "3.0 MB");
        assert_eq!(short(12_345.0), "12k");
        assert_eq!(duration(200), "3m 20s");
    }
}
