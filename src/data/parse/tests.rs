//! The parser against its own general path, chunked against whole, file against memory.

use super::*;

/// A table's contents with numbers as bits (a missing cell is NaN, which `==` never equals).
type Contents = (usize, Vec<u64>, Vec<u32>, bool, Vec<(Vec<u32>, Vec<String>)>);

fn contents(result: &Result<Table, ParseError>) -> Result<Contents, ParseError> {
    let table = result.as_ref().map_err(Clone::clone)?;
    let texts = table.texts.iter().map(|t| (t.codes.clone(), t.values.clone())).collect();
    let numbers = table.numbers.iter().map(|v| v.to_bits()).collect();
    Ok((table.rows, table.lines.clone(), numbers, table.numbers_complete, texts))
}

/// `bytes` (a header line, then the body) parsed whole from memory, and in chunks of `sizes`
/// from memory and from a file read chunk by chunk: all must agree.
fn parse_bytes(bytes: &[u8], reads: &[ColumnRead], delimiter: u8, sizes: &[usize]) -> Result<Table, ParseError> {
    let start = memchr::memchr(b'\n', bytes).map_or(bytes.len(), |i| i + 1);
    let na = NaValues::new(None);
    let layout = Layout { width: reads.len(), reads, na: &na, delimiter };
    let whole = Body::Bytes { bytes, start, first_line: 2 };
    let expected = parse_body_in(whole, vec![], &layout, &|_, _, _| {}, usize::MAX / 4);
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, bytes).unwrap();
    for &chunk_bytes in sizes {
        let body = Body::Bytes { bytes, start, first_line: 2 };
        let in_memory = parse_body_in(body, vec![], &layout, &|_, _, _| {}, chunk_bytes);
        assert_eq!(contents(&in_memory), contents(&expected), "chunks of {chunk_bytes} bytes: {bytes:?}");
        let body = Body::File { file: &file, start, end: bytes.len(), first_line: 2 };
        let from_file = parse_body_in(body, vec![], &layout, &|_, _, _| {}, chunk_bytes);
        assert_eq!(contents(&from_file), contents(&expected), "a file in chunks of {chunk_bytes}: {bytes:?}");
    }
    expected
}

/// Chunk sizes that cut a small text at every line, and at none.
const SIZES: [usize; 6] = [1, 2, 5, 16, 64, CHUNK_BYTES];

fn parse(text: &str, reads: &[ColumnRead]) -> Result<Table, ParseError> {
    parse_bytes(text.as_bytes(), reads, b',', &SIZES)
}

#[test]
fn numbers_text_quotes_missing_and_lines() {
    use ColumnRead::*;
    let text = "x,name,y\n1.5,\"a, b\",2\n\n NA , \"say \"\"hi\"\"\" ,3\r\n-2e3,a, b\n4,\"two\nlines\",?\n";
    let table = parse(text, &[Number, Text, Text]).unwrap();
    assert_eq!(table.rows, 4);
    assert_eq!(table.lines, vec![2, 4, 5, 6]);
    assert_eq!(table.numbers[0], 1.5);
    assert!(table.numbers[1].is_nan());
    assert_eq!(table.numbers[2], -2000.0);
    let names = &table.texts[0];
    assert_eq!(names.get(0), Some("a, b"));
    assert_eq!(names.get(1), Some("say \"hi\""));
    assert_eq!(names.get(2), Some("a"));
    assert_eq!(names.get(3), Some("two\nlines"));
    assert_eq!(table.texts[1].get(3), None, "`?` is missing");
    assert_eq!(table.texts[1].get(2), Some("b"));
    assert!(!table.numbers_complete, "a number cell was missing");
}

#[test]
fn errors_name_their_line() {
    use ColumnRead::*;
    let error = parse("x,y\n1,2\n3,oops\n", &[Number, Number]).unwrap_err();
    assert_eq!(error, ParseError { line: 3, kind: ParseErrorKind::NotANumber { column: 1, cell: "oops".into() } });
    let error = parse("x,y\n1,2\n\n3\n", &[Number, Number]).unwrap_err();
    assert_eq!(error, ParseError { line: 4, kind: ParseErrorKind::FieldCount { found: 1, expected: 2 } });
    let error = parse("x,y\n1,2,3\n", &[Number, Number]).unwrap_err();
    assert_eq!(error.kind, ParseErrorKind::FieldCount { found: 3, expected: 2 });
    let error = parse("x,y\n1,inf\n", &[Number, Number]).unwrap_err();
    assert!(matches!(error.kind, ParseErrorKind::NotFinite { column: 1, .. }));
    assert_eq!(parse("x\n\"open\n", &[Text]).unwrap_err().kind, ParseErrorKind::UnclosedQuote);
}

/// Rows the fast path reads and rows it leaves to the general path (spaces, `\r\n`, empty
/// and missing cells, decimals, long numbers, blank lines, no line end at the end) give
/// the cells a plain reading of the text gives.
#[test]
fn every_kind_of_row_reads_as_its_text_says() {
    use ColumnRead::*;
    let rows = [
        "0,12,345,6789,1234567,a",
        "0, 12 ,345,6789,1234567,b",
        "0,12,345,6789,1234567,a\r",
        ",NA,345,6789,12345678,a",
        "1.5,-2,3e2,0.25,007,c",
        "  ",
        "9,8,7,6,5,  d  ",
    ];
    let mut text = String::from("a,b,c,d,e,f\n");
    let mut expected: Vec<f32> = Vec::new();
    let mut labels = Vec::new();
    for i in 0..2000 {
        let row = rows[i % rows.len()];
        text += row;
        text += "\n";
        let cells: Vec<&str> = row.split(',').map(str::trim).collect();
        if cells.len() == 6 {
            expected.extend(cells[..5].iter().map(|c| c.parse::<f32>().unwrap_or(f32::NAN)));
            labels.push(cells[5]);
        }
    }
    text += "4,3,2,1,0,e";
    expected.extend([4.0, 3.0, 2.0, 1.0, 0.0]);
    labels.push("e");
    let table = parse(&text, &[Number, Number, Number, Number, Number, Text]).unwrap();
    assert_eq!(table.rows, labels.len());
    let same = |a: f32, b: f32| a == b || a.is_nan() && b.is_nan();
    for (i, (&got, &want)) in table.numbers.iter().zip(&expected).enumerate() {
        assert!(same(got, want), "cell {i}: {got} for {want}");
    }
    assert_eq!(table.numbers.len(), expected.len());
    for (row, label) in labels.iter().enumerate() {
        assert_eq!(table.texts[0].get(row), Some(*label));
    }
}

/// Many chunks give the same table as one: codes follow first appearance in the file.
#[test]
fn chunks_join_in_file_order() {
    let mut text = String::from("v,c\n");
    for i in 0..500_000 {
        text += &format!("{},{}\n", i % 1000, ["q", "p", "r"][(i / 7) % 3]);
    }
    assert!(text.len() > 2 * CHUNK_BYTES);
    let reads = [ColumnRead::Number, ColumnRead::Text];
    let table = parse_bytes(text.as_bytes(), &reads, b',', &[4096, CHUNK_BYTES]).unwrap();
    assert_eq!(table.rows, 500_000);
    assert_eq!(table.texts[0].values, ["q", "p", "r"]);
    for row in [0, 123_457, 499_999] {
        assert_eq!(table.numbers[row], (row % 1000) as f32);
        assert_eq!(table.texts[0].get(row), Some(["q", "p", "r"][(row / 7) % 3]));
        assert_eq!(table.lines[row], row as u64 + 2);
    }
    assert!(table.numbers_complete);
    // An error in a later chunk names its line in the file.
    let at = text.match_indices("\n999,").nth(299).unwrap().0 + 5;
    let broken = format!("{}x,{}", &text[..at], &text[at..]);
    let error = parse_bytes(broken.as_bytes(), &reads, b',', &[4096, CHUNK_BYTES]).unwrap_err();
    assert_eq!(error, ParseError { line: 300_001, kind: ParseErrorKind::FieldCount { found: 3, expected: 2 } });
}

/// A quote inside an unquoted field is text, and does not open a quoted field: a chunk must
/// not be cut at a line end inside a later quoted field, nor within one.
#[test]
fn chunks_follow_quotes_as_fields_do() {
    use ColumnRead::*;
    let mut text = String::from("a,b\n");
    for i in 0..50 {
        text += &format!("x\"y{i},\"two\nlines, {i}\"\n 3\"\" ,\"q\"\"\n\"\n");
    }
    let table = parse(&text, &[Text, Text]).unwrap();
    assert_eq!(table.rows, 100);
    assert_eq!(table.texts[0].get(0), Some("x\"y0"));
    assert_eq!(table.texts[1].get(0), Some("two\nlines, 0"));
    assert_eq!(table.texts[0].get(1), Some("3\"\""));
    assert_eq!(table.texts[1].get(1), Some("q\"\n"));
    assert_eq!(table.lines[2], 2 + 4);
}

/// A small generator of hostile CSV text: cells of every kind (numbers short and long,
/// decimals, missing markers, spaces, text, quotes opened anywhere, quotes that never close,
/// bytes that are not UTF-8), rows of the right and the wrong width, `\r\n`, blank lines.
/// Also the run reader's tests' source of cases (`runs::tests`).
pub(super) struct Cases(pub(super) u64);

impl Cases {
    pub(super) fn next(&mut self, below: usize) -> usize {
        // xorshift64*: enough for test cases, and the same on every machine.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % below
    }

    fn cell(&mut self, common: bool) -> &'static [u8] {
        const COMMON: [&[u8]; 8] = [b"0", b"7", b"12", b"255", b"1234567", b"0", b"42", b"3"];
        #[rustfmt::skip]
        const RARE: [&[u8]; 26] = [
            b"12345678", b"123456789012", b"1.5", b"-3", b"1e3", b"inf", b"NaN", b"NA", b"?", b"", b" 7 ",
            b"\t8", b"a", b"b c", b"\r", b"\"x,y\"", b"\"a\"\"b\"", b"\"l\nb\"", b"x\"y", b" \"q\" ", b"\"",
            b"\xff", b"007", b"+5", b".5", b"1,",
        ];
        if common { COMMON[self.next(COMMON.len())] } else { RARE[self.next(RARE.len())] }
    }

    /// A header of `width` names, then rows.
    fn text(&mut self, width: usize, delimiter: u8) -> Vec<u8> {
        let mut text: Vec<u8> = (0..width).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",").into_bytes();
        text.push(b'\n');
        let rare = [2, 10, 40][self.next(3)];
        for _ in 0..self.next(40) {
            let fields = if self.next(30) == 0 { self.next(width + 2) } else { width };
            for f in 0..fields {
                if f > 0 {
                    text.push(delimiter);
                }
                let common = self.next(rare) != 0;
                text.extend_from_slice(self.cell(common));
            }
            match self.next(12) {
                0 => text.extend_from_slice(b"\r\n"),
                1 => text.extend_from_slice(b"\n  \n"),
                _ => text.push(b'\n'),
            }
        }
        if self.next(4) == 0 {
            text.pop();
        }
        text
    }
}

/// Thousands of generated files: chunked and whole, from a file and from memory, give the
/// same table or the same first error; and quote-free chunks read the same on the fast path,
/// on the general path and by the quoted parser. Never a panic.
#[test]
fn generated_files_read_the_same_every_way() {
    use ColumnRead::*;
    let mut cases = Cases(0x9e37_79b9_7f4a_7c15);
    let mut outcomes = [0usize; 2];
    for case in 0..3000 {
        let width = 1 + cases.next(4);
        let reads: Vec<ColumnRead> = (0..width).map(|_| [Number, Number, Number, Text, Skip][cases.next(5)]).collect();
        let delimiter = [b',', b',', b';', b'\t', b' ', b'1'][cases.next(6)];
        let text = cases.text(width, delimiter);
        let result = parse_bytes(&text, &reads, delimiter, &[1, 7, 64, CHUNK_BYTES]);
        outcomes[usize::from(result.is_ok())] += 1;
        let start = memchr::memchr(b'\n', &text).map_or(text.len(), |i| i + 1);
        if memchr::memchr(b'"', &text).is_none() {
            let na = NaValues::new(None);
            let layout = Layout { width, reads: &reads, na: &na, delimiter };
            let room = (text.len() + 1) * width;
            let run = |how: usize| {
                let mut out = vec![0.0f32; room];
                let chunk = match how {
                    0 => plain::parse_with(&text, start, text.len(), &layout, &mut out, true),
                    1 => plain::parse_with(&text, start, text.len(), &layout, &mut out, false),
                    _ => quoted::parse(&text, start, text.len(), &layout, &mut out),
                };
                let error = chunk.error.as_ref().map(|(byte, kind)| (*byte, kind.clone()));
                if error.is_some() {
                    // What a failed chunk holds is thrown away: only its error counts.
                    return (chunk.rows, vec![], vec![], vec![], false, error);
                }
                let numbers: Vec<u32> = out[..chunk.numbers].iter().map(|v| v.to_bits()).collect();
                (chunk.rows, chunk.lines.clone(), numbers, chunk.texts.clone(), chunk.missing_numbers, error)
            };
            let general = run(1);
            if !delimiter.is_ascii_digit() {
                assert_eq!(run(0), general, "case {case}: fast and general paths on {text:?}");
            }
            assert_eq!(run(2), general, "case {case}: quoted parser and general path on {text:?}");
        }
    }
    // The cases reach both outcomes often.
    assert!(outcomes[0] > 300 && outcomes[1] > 300, "errors and tables: {outcomes:?}");
}

/// Rows longer than a chunk (a wide row of numbers, a long text cell, a long quoted cell with
/// line ends) are read whole, and the rows around them keep their lines.
#[test]
fn rows_longer_than_a_chunk_are_read_whole() {
    use ColumnRead::*;
    let wide = 3 * CHUNK_BYTES / 4;
    let mut text = String::from("h0");
    for i in 1..wide {
        text += &format!(",h{i}");
    }
    text += "\n";
    for row in 0..3 {
        let cells: Vec<String> = (0..wide).map(|i| ((i + row) % 256).to_string()).collect();
        text += &cells.join(",");
        text += "\n";
    }
    assert!(text.len() > 3 * CHUNK_BYTES);
    let reads = vec![Number; wide];
    let table = parse_bytes(text.as_bytes(), &reads, b',', &[CHUNK_BYTES, 4096]).unwrap();
    assert_eq!((table.rows, table.lines.clone()), (3, vec![2, 3, 4]));
    assert_eq!(table.numbers[2 * wide + 300_000], ((300_000 + 2) % 256) as f32);
    let long = "x".repeat(3 * CHUNK_BYTES);
    let quoted = format!("\"{}\n{}\"", "y".repeat(CHUNK_BYTES), "z".repeat(CHUNK_BYTES));
    for cell in [long.as_str(), quoted.as_str()] {
        let text = format!("a,b\n1,short\n2,{cell}\n3,short\n");
        let table = parse_bytes(text.as_bytes(), &[Number, Text], b',', &[CHUNK_BYTES, 4096]).unwrap();
        assert_eq!(table.numbers, [1.0, 2.0, 3.0]);
        assert_eq!(table.texts[0].get(1).map(str::len), Some(cell.trim_matches('"').len()));
        let last = if cell.contains('\n') { 5 } else { 4 };
        assert_eq!(table.lines, [2, 3, last]);
    }
}

/// Wide rows of whole numbers (runs over many 64-byte blocks: mostly one to three digits,
/// some of four to seven, now and then eight digits, a decimal or an empty cell, which the
/// general path reads), cut into chunks of every size and read from a file with its
/// lookahead past each chunk's end, with and without a last line end: each cell reads as
/// `str::parse` reads it.
#[test]
fn wide_rows_of_whole_numbers_read_as_their_text_says() {
    let mut cases = Cases(0x51_7cc1_b727_220a);
    for case in 0..40 {
        let width = 20 + cases.next(200);
        let mut text: Vec<u8> = (0..width).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",").into_bytes();
        text.push(b'\n');
        let mut expected = Vec::new();
        for _ in 0..1 + cases.next(12) {
            let cells: Vec<String> = (0..width)
                .map(|_| match cases.next(200) {
                    0 => "12345678".to_string(),
                    1 => "2.5".to_string(),
                    2 => String::new(),
                    n if n < 20 => (cases.next(10_000_000)).to_string(),
                    _ => [0, 0, 0, cases.next(10), cases.next(256)][cases.next(5)].to_string(),
                })
                .collect();
            expected.extend(cells.iter().map(|c| c.parse::<f32>().unwrap_or(f32::NAN).to_bits()));
            text.extend_from_slice(cells.join(",").as_bytes());
            text.push(b'\n');
        }
        if case % 2 == 0 {
            text.pop();
        }
        let reads = vec![ColumnRead::Number; width];
        let table = parse_bytes(&text, &reads, b',', &[1, 63, 64, 65, 500, CHUNK_BYTES]).unwrap();
        let numbers: Vec<u32> = table.numbers.iter().map(|v| v.to_bits()).collect();
        assert_eq!(numbers, expected, "case {case}");
    }
}
