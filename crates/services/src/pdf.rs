//! A small, pure PDF builder for receipts, invoices (with GiroCode) and case decisions.
//!
//! [`render`] lays out a [`Document`] of [`Block`]s on A4 portrait pages (20 mm margins)
//! with the standard Type 1 fonts Helvetica and Helvetica-Bold in WinAnsiEncoding (nothing
//! embedded). Text is encoded to Windows-1252; characters outside it become `?`. Lines are
//! wrapped with the fonts' AFM advance widths, pages break automatically, and every page
//! gets a footer with the title and "Seite N von M". Content streams are not compressed.
//!
//! In the content streams, runs of printable ASCII are written as literal strings, so they
//! can be found in the output bytes; runs of other cp1252 bytes are written as hex strings.

use chrono::{DateTime, Datelike, Timelike, Utc};
use pdf_writer::{Content, Date, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use qrcode::{Color, EcLevel, QrCode};

/// A document to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Document title: info dictionary and footer.
    pub title: String,
    /// Author in the info dictionary, e.g. the issuing authority.
    pub author: String,
    /// Language tag for the catalog's `/Lang`, e.g. `"de"`; empty means `"de"`.
    pub lang: String,
    /// The content, top to bottom.
    pub blocks: Vec<Block>,
}

/// One block of content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// A heading: bold, 14 pt, wrapped; kept together with the start of the next block.
    Heading(String),
    /// Body text: 10 pt, wrapped to the text width; `'\n'` starts a new line.
    Paragraph(String),
    /// A two-column list: label (bold) | value (wrapped, may contain `'\n'`).
    /// Each row is kept on one page unless it is taller than a page.
    Fields(Vec<(String, String)>),
    /// A QR code of `payload` (error correction M, L if the payload is too long for M)
    /// drawn as filled vector rectangles (symbol 40 mm wide, plus a 4-module quiet zone),
    /// `caption` below.
    /// A payload too long for any QR code is replaced by a short note.
    Qr {
        /// The encoded data, e.g. an EPC/GiroCode payload.
        payload: String,
        /// Text below the code.
        caption: String,
    },
    /// A thin horizontal line across the text width.
    Rule,
}

const MM: f32 = 72.0 / 25.4;
const PAGE_W: f32 = 210.0 * MM;
const PAGE_H: f32 = 297.0 * MM;
const MARGIN: f32 = 20.0 * MM;
const TEXT_W: f32 = PAGE_W - 2.0 * MARGIN;
const TOP: f32 = PAGE_H - MARGIN;
const BOTTOM: f32 = MARGIN;

const BODY_SIZE: f32 = 10.0;
const BODY_LEADING: f32 = 13.0;
const HEADING_SIZE: f32 = 14.0;
const HEADING_LEADING: f32 = 18.0;
const CAPTION_SIZE: f32 = 9.0;
const CAPTION_LEADING: f32 = 11.5;
const FOOTER_SIZE: f32 = 8.0;
const FOOTER_BASELINE: f32 = 12.0 * MM;

const SPACE_PARAGRAPH: f32 = 6.0;
const SPACE_HEADING: f32 = 12.0;
const SPACE_ROW: f32 = 3.0;
const FIELDS_GAP: f32 = 12.0;
const RULE_HEIGHT: f32 = 8.0;
const RULE_WIDTH: f32 = 0.5;

/// Width of the QR symbol itself (without quiet zone).
const QR_SIZE: f32 = 40.0 * MM;
/// Quiet zone around the QR symbol, in modules.
const QR_QUIET: usize = 4;

const FONT_REGULAR: Name<'static> = Name(b"F1");
const FONT_BOLD: Name<'static> = Name(b"F2");

/// One of the two fonts used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Font {
    Regular,
    Bold,
}

impl Font {
    fn name(self) -> Name<'static> {
        match self {
            Font::Regular => FONT_REGULAR,
            Font::Bold => FONT_BOLD,
        }
    }

    fn widths(self) -> &'static [u16; 224] {
        match self {
            Font::Regular => &HELVETICA,
            Font::Bold => &HELVETICA_BOLD,
        }
    }

    /// Advance width of a cp1252 code in 1/1000 em (0 for codes below 32).
    fn advance(self, code: u8) -> u64 {
        match code.checked_sub(32) {
            Some(i) => u64::from(self.widths()[usize::from(i)]),
            None => 0,
        }
    }
}

/// Width in points of cp1252-encoded `text` set in `font` at `size`.
fn text_width(text: &[u8], font: Font, size: f32) -> f32 {
    units_to_pt(text.iter().map(|&b| font.advance(b)).sum(), size)
}

fn units_to_pt(units: u64, size: f32) -> f32 {
    units as f32 * size / 1000.0
}

/// Windows-1252 code of `c`, if it has one (C0/C1 control characters have none here).
fn cp1252(c: char) -> Option<u8> {
    let code = u32::from(c);
    if (0x20..=0x7E).contains(&code) || (0xA0..=0xFF).contains(&code) {
        return u8::try_from(code).ok();
    }
    let byte = match c {
        '\u{20AC}' => 0x80, // €
        '\u{201A}' => 0x82, // ‚
        '\u{0192}' => 0x83, // ƒ
        '\u{201E}' => 0x84, // „
        '\u{2026}' => 0x85, // …
        '\u{2020}' => 0x86, // †
        '\u{2021}' => 0x87, // ‡
        '\u{02C6}' => 0x88, // ˆ
        '\u{2030}' => 0x89, // ‰
        '\u{0160}' => 0x8A, // Š
        '\u{2039}' => 0x8B, // ‹
        '\u{0152}' => 0x8C, // Œ
        '\u{017D}' => 0x8E, // Ž
        '\u{2018}' => 0x91, // ‘
        '\u{2019}' => 0x92, // ’
        '\u{201C}' => 0x93, // “
        '\u{201D}' => 0x94, // ”
        '\u{2022}' => 0x95, // •
        '\u{2013}' => 0x96, // –
        '\u{2014}' => 0x97, // —
        '\u{02DC}' => 0x98, // ˜
        '\u{2122}' => 0x99, // ™
        '\u{0161}' => 0x9A, // š
        '\u{203A}' => 0x9B, // ›
        '\u{0153}' => 0x9C, // œ
        '\u{017E}' => 0x9E, // ž
        '\u{0178}' => 0x9F, // Ÿ
        _ => return None,
    };
    Some(byte)
}

/// Encodes `text` to Windows-1252; every character without a code becomes `?`.
fn encode_cp1252(text: &str) -> Vec<u8> {
    text.chars().map(|c| cp1252(c).unwrap_or(b'?')).collect()
}

/// Splits `text` into hard lines (`\n`, `\r\n` or `\r`) and encodes each; tabs become
/// spaces and soft hyphens are dropped.
fn hard_lines(text: &str) -> Vec<Vec<u8>> {
    let normalized = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\t', " ")
        .replace('\u{00AD}', "");
    normalized.split('\n').map(encode_cp1252).collect()
}

/// Wraps `text` to `max` points: breaks at spaces, hard-breaks words longer than a line.
/// Each hard line yields at least one (possibly empty) line.
fn wrap(text: &str, font: Font, size: f32, max: f32) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for line in hard_lines(text) {
        wrap_line(&line, font, size, max, &mut out);
    }
    out
}

fn wrap_line(text: &[u8], font: Font, size: f32, max: f32, out: &mut Vec<Vec<u8>>) {
    let fits = |units: u64| units_to_pt(units, size) <= max;
    let space = font.advance(b' ');
    let start = out.len();
    let mut line: Vec<u8> = Vec::new();
    let mut units = 0u64;
    for word in text.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
        let word_units: u64 = word.iter().map(|&b| font.advance(b)).sum();
        if !line.is_empty() {
            if fits(units + space + word_units) {
                line.push(b' ');
                line.extend_from_slice(word);
                units += space + word_units;
                continue;
            }
            out.push(std::mem::take(&mut line));
            units = 0;
        }
        if fits(word_units) {
            line.extend_from_slice(word);
            units = word_units;
            continue;
        }
        for &b in word {
            let w = font.advance(b);
            if !line.is_empty() && !fits(units + w) {
                out.push(std::mem::take(&mut line));
                units = 0;
            }
            line.push(b);
            units += w;
        }
    }
    if !line.is_empty() || out.len() == start {
        out.push(line);
    }
}

/// Something to draw, positioned relative to the top of its line.
#[derive(Debug, Clone)]
enum Item {
    /// Text with its baseline `baseline` below the line top.
    Text {
        x: f32,
        baseline: f32,
        font: Font,
        size: f32,
        text: Vec<u8>,
    },
    /// A filled rectangle whose top edge is `top` below the line top.
    Rect { x: f32, top: f32, w: f32, h: f32 },
    /// A horizontal rule `below` the line top.
    Rule { x1: f32, x2: f32, below: f32 },
}

#[derive(Debug, Clone, Default)]
struct Line {
    height: f32,
    items: Vec<Item>,
}

/// A run of lines with its spacing and page-break rules.
#[derive(Debug, Clone)]
struct Group {
    lines: Vec<Line>,
    /// Vertical space before the group (dropped at the top of a page).
    space_before: f32,
    /// How many leading lines must share a page (as far as they fit on one).
    keep: usize,
    /// Extra room required below the kept lines (keeps a heading with what follows).
    need_after: f32,
}

/// Baseline offset of text of `size` in a line of `leading`.
fn baseline(size: f32, leading: f32) -> f32 {
    (leading - size) / 2.0 + size * 0.8
}

fn text_lines(text: &str, font: Font, size: f32, leading: f32, x: f32, width: f32) -> Vec<Line> {
    wrap(text, font, size, width)
        .into_iter()
        .map(|line| Line {
            height: leading,
            items: if line.is_empty() {
                Vec::new()
            } else {
                vec![Item::Text {
                    x,
                    baseline: baseline(size, leading),
                    font,
                    size,
                    text: line,
                }]
            },
        })
        .collect()
}

fn layout_block(block: &Block, groups: &mut Vec<Group>) {
    match block {
        Block::Heading(text) => {
            let lines = text_lines(
                text,
                Font::Bold,
                HEADING_SIZE,
                HEADING_LEADING,
                MARGIN,
                TEXT_W,
            );
            groups.push(Group {
                keep: lines.len(),
                lines,
                space_before: SPACE_HEADING,
                need_after: 2.0 * BODY_LEADING,
            });
        }
        Block::Paragraph(text) => {
            let lines = text_lines(text, Font::Regular, BODY_SIZE, BODY_LEADING, MARGIN, TEXT_W);
            groups.push(Group {
                lines,
                space_before: SPACE_PARAGRAPH,
                keep: 2,
                need_after: 0.0,
            });
        }
        Block::Fields(rows) => layout_fields(rows, groups),
        Block::Qr { payload, caption } => groups.push(layout_qr(payload, caption)),
        Block::Rule => groups.push(Group {
            lines: vec![Line {
                height: RULE_HEIGHT,
                items: vec![Item::Rule {
                    x1: MARGIN,
                    x2: MARGIN + TEXT_W,
                    below: RULE_HEIGHT / 2.0,
                }],
            }],
            space_before: SPACE_PARAGRAPH / 2.0,
            keep: 1,
            need_after: 0.0,
        }),
    }
}

fn layout_fields(rows: &[(String, String)], groups: &mut Vec<Group>) {
    // Label column: as wide as the widest label line, within 25..40 % of the text width.
    let widest = rows
        .iter()
        .flat_map(|(label, _)| hard_lines(label))
        .map(|line| text_width(&line, Font::Bold, BODY_SIZE))
        .fold(0.0f32, f32::max);
    let label_w = widest.clamp(0.25 * TEXT_W, 0.40 * TEXT_W);
    let value_x = MARGIN + label_w + FIELDS_GAP;
    let value_w = TEXT_W - label_w - FIELDS_GAP;
    let base = baseline(BODY_SIZE, BODY_LEADING);
    for (i, (label, value)) in rows.iter().enumerate() {
        let labels = wrap(label, Font::Bold, BODY_SIZE, label_w);
        let values = wrap(value, Font::Regular, BODY_SIZE, value_w);
        let mut labels = labels.into_iter();
        let mut values = values.into_iter();
        let mut lines = Vec::new();
        loop {
            let (l, v) = (labels.next(), values.next());
            if l.is_none() && v.is_none() {
                break;
            }
            let mut items = Vec::new();
            for (x, font, text) in [(MARGIN, Font::Bold, l), (value_x, Font::Regular, v)] {
                if let Some(text) = text.filter(|t| !t.is_empty()) {
                    items.push(Item::Text {
                        x,
                        baseline: base,
                        font,
                        size: BODY_SIZE,
                        text,
                    });
                }
            }
            lines.push(Line {
                height: BODY_LEADING,
                items,
            });
        }
        groups.push(Group {
            keep: lines.len(),
            lines,
            space_before: if i == 0 { SPACE_PARAGRAPH } else { SPACE_ROW },
            need_after: 0.0,
        });
    }
}

/// Encodes `payload` as QR code: level M as GiroCode requires, L if M cannot hold it.
fn qr_code(payload: &str) -> Option<QrCode> {
    QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::M)
        .or_else(|_| QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::L))
        .ok()
}

/// Horizontal runs of dark modules: (row, first column, length).
fn qr_runs(code: &QrCode) -> Vec<(usize, usize, usize)> {
    let width = code.width();
    let colors = code.to_colors();
    let mut runs = Vec::new();
    for (row, cells) in colors.chunks(width.max(1)).enumerate() {
        let mut col = 0;
        while col < cells.len() {
            if cells[col] == Color::Dark {
                let start = col;
                while col < cells.len() && cells[col] == Color::Dark {
                    col += 1;
                }
                runs.push((row, start, col - start));
            } else {
                col += 1;
            }
        }
    }
    runs
}

fn layout_qr(payload: &str, caption: &str) -> Group {
    let mut lines = Vec::new();
    match qr_code(payload) {
        Some(code) => {
            let module = QR_SIZE / code.width().max(1) as f32;
            let quiet = QR_QUIET as f32 * module;
            let items = qr_runs(&code)
                .into_iter()
                .map(|(row, col, len)| Item::Rect {
                    x: MARGIN + quiet + col as f32 * module,
                    top: quiet + row as f32 * module,
                    w: len as f32 * module,
                    h: module,
                })
                .collect();
            lines.push(Line {
                height: QR_SIZE + 2.0 * quiet,
                items,
            });
        }
        None => lines.extend(text_lines(
            "(QR-Code nicht darstellbar: Inhalt zu lang)",
            Font::Regular,
            BODY_SIZE,
            BODY_LEADING,
            MARGIN,
            TEXT_W,
        )),
    }
    if !caption.is_empty() {
        lines.extend(text_lines(
            caption,
            Font::Regular,
            CAPTION_SIZE,
            CAPTION_LEADING,
            MARGIN,
            TEXT_W,
        ));
    }
    Group {
        keep: lines.len(),
        lines,
        space_before: SPACE_PARAGRAPH,
        need_after: 0.0,
    }
}

/// An item placed on a page: the y of its line's top edge and the item.
type Placed = (f32, Item);

/// Distributes the groups over pages; always returns at least one page.
fn paginate(groups: Vec<Group>) -> Vec<Vec<Placed>> {
    let mut pages: Vec<Vec<Placed>> = vec![Vec::new()];
    let mut y = TOP;
    let mut empty = true;
    for group in groups {
        let keep = group.keep.min(group.lines.len());
        let kept: f32 = group.lines[..keep].iter().map(|l| l.height).sum();
        let needed = kept + group.need_after;
        let needed = if needed <= TOP - BOTTOM { needed } else { kept };
        let space = if empty { 0.0 } else { group.space_before };
        if !empty && needed <= TOP - BOTTOM && y - space - needed < BOTTOM {
            pages.push(Vec::new());
            y = TOP;
            empty = true;
        } else {
            y -= space;
        }
        for line in group.lines {
            if !empty && y - line.height < BOTTOM {
                pages.push(Vec::new());
                y = TOP;
            }
            let page = pages.last_mut();
            if let Some(page) = page {
                page.extend(line.items.into_iter().map(|item| (y, item)));
            }
            y -= line.height;
            empty = false;
        }
    }
    pages
}

/// Shows `text` at the current text position: printable ASCII runs as literal strings,
/// other bytes as hex strings.
fn show(content: &mut Content, text: &[u8]) {
    let mut rest = text;
    while let Some(&first) = rest.first() {
        let ascii = (0x20..=0x7E).contains(&first);
        let len = rest
            .iter()
            .position(|b| (0x20..=0x7E).contains(b) != ascii)
            .unwrap_or(rest.len());
        let (run, tail) = rest.split_at(len);
        content.show(Str(run));
        rest = tail;
    }
}

fn draw_text(content: &mut Content, x: f32, y: f32, font: Font, size: f32, text: &[u8]) {
    content.begin_text();
    content.set_font(font.name(), size);
    content.next_line(x, y);
    show(content, text);
    content.end_text();
}

/// Shortens `text` with "…" until it fits `max` points.
fn truncate(mut text: Vec<u8>, font: Font, size: f32, max: f32) -> Vec<u8> {
    if text_width(&text, font, size) <= max {
        return text;
    }
    let ellipsis = font.advance(0x85);
    let mut units: u64 = text.iter().map(|&b| font.advance(b)).sum();
    while !text.is_empty() && units_to_pt(units + ellipsis, size) > max {
        if let Some(b) = text.pop() {
            units -= font.advance(b);
        }
    }
    while text.last() == Some(&b' ') {
        text.pop();
    }
    text.push(0x85);
    text
}

fn page_content(items: &[Placed], number: usize, total: usize, title: &str) -> Vec<u8> {
    let mut content = Content::new();
    content.set_fill_gray(0.0);
    let rects: Vec<_> = items
        .iter()
        .filter_map(|(top, item)| match item {
            Item::Rect { x, top: dy, w, h } => Some((*x, top - dy - h, *w, *h)),
            _ => None,
        })
        .collect();
    if !rects.is_empty() {
        for (x, y, w, h) in rects {
            content.rect(x, y, w, h);
        }
        content.fill_nonzero();
    }
    for (top, item) in items {
        match item {
            Item::Text {
                x,
                baseline,
                font,
                size,
                text,
            } => {
                draw_text(&mut content, *x, top - baseline, *font, *size, text);
            }
            Item::Rule { x1, x2, below } => {
                content.save_state();
                content.set_line_width(RULE_WIDTH);
                content.set_stroke_gray(0.4);
                content.move_to(*x1, top - below);
                content.line_to(*x2, top - below);
                content.stroke();
                content.restore_state();
            }
            Item::Rect { .. } => {}
        }
    }
    // Footer: title left, page number right.
    let label = format!("Seite {number} von {total}").into_bytes();
    let label_w = text_width(&label, Font::Regular, FOOTER_SIZE);
    let title: Vec<u8> = hard_lines(title).join(&b' ');
    let title = truncate(
        title,
        Font::Regular,
        FOOTER_SIZE,
        TEXT_W - label_w - FIELDS_GAP,
    );
    content.set_fill_gray(0.3);
    if !title.is_empty() {
        draw_text(
            &mut content,
            MARGIN,
            FOOTER_BASELINE,
            Font::Regular,
            FOOTER_SIZE,
            &title,
        );
    }
    let label_x = MARGIN + TEXT_W - label_w;
    draw_text(
        &mut content,
        label_x,
        FOOTER_BASELINE,
        Font::Regular,
        FOOTER_SIZE,
        &label,
    );
    content.finish().into_vec()
}

fn pdf_date(t: DateTime<Utc>) -> Date {
    let narrow = |v: u32| u8::try_from(v).unwrap_or(u8::MAX);
    let year = u16::try_from(t.year().clamp(0, 9999)).unwrap_or(0);
    Date::new(year)
        .month(narrow(t.month()))
        .day(narrow(t.day()))
        .hour(narrow(t.hour()))
        .minute(narrow(t.minute()))
        .second(narrow(t.second().min(59)))
        .utc_offset_hour(0)
}

/// Renders `doc` to PDF bytes; `created` becomes the info dictionary's CreationDate.
/// Never panics; an empty document yields one page with only the footer.
pub fn render(doc: &Document, created: DateTime<Utc>) -> Vec<u8> {
    let mut groups = Vec::new();
    for block in &doc.blocks {
        layout_block(block, &mut groups);
    }
    let pages = paginate(groups);
    let total = pages.len();

    let catalog_id = Ref::new(1);
    let tree_id = Ref::new(2);
    let info_id = Ref::new(3);
    let regular_id = Ref::new(4);
    let bold_id = Ref::new(5);
    let page_ids: Vec<(Ref, Ref)> = (0..total)
        .map(|i| {
            let n = i32::try_from(6 + 2 * i).unwrap_or(i32::MAX - 1);
            (Ref::new(n), Ref::new(n + 1))
        })
        .collect();

    let mut pdf = Pdf::new();
    let lang = if doc.lang.trim().is_empty() {
        "de"
    } else {
        doc.lang.trim()
    };
    let mut catalog = pdf.catalog(catalog_id);
    catalog.pages(tree_id).lang(TextStr(lang));
    catalog.viewer_preferences().display_doc_title(true);
    catalog.finish();

    pdf.document_info(info_id)
        .title(TextStr(&doc.title))
        .author(TextStr(&doc.author))
        .producer(TextStr("Stadtkern"))
        .creation_date(pdf_date(created));

    pdf.pages(tree_id)
        .kids(page_ids.iter().map(|&(page, _)| page))
        .count(i32::try_from(total).unwrap_or(i32::MAX));

    for (id, base) in [(regular_id, "Helvetica"), (bold_id, "Helvetica-Bold")] {
        pdf.type1_font(id)
            .base_font(Name(base.as_bytes()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }

    for (i, (items, &(page_id, content_id))) in pages.iter().zip(&page_ids).enumerate() {
        let mut page = pdf.page(page_id);
        page.parent(tree_id)
            .media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .contents(content_id);
        let mut resources = page.resources();
        resources
            .fonts()
            .pair(FONT_REGULAR, regular_id)
            .pair(FONT_BOLD, bold_id);
        resources.finish();
        page.finish();
        let data = page_content(items, i + 1, total, &doc.title);
        pdf.stream(content_id, &data);
    }
    pdf.finish()
}

/// Helvetica advance widths (AFM, 1/1000 em) for cp1252 codes 32..=255; unused codes
/// (127, 129, 141, 143, 144, 157) carry the bullet width, 160 (no-break space) the space's.
const HELVETICA: [u16; 224] = [
    // 0x20
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    // 0x30
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    // 0x40
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    // 0x50
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    // 0x60
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    // 0x70
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 350,
    // 0x80
    556, 350, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350,
    // 0x90
    350, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 350, 500, 667,
    // 0xA0
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    // 0xB0
    400, 584, 333, 333, 333, 578, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    // 0xC0
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    // 0xD0
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    // 0xE0
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278,
    // 0xF0
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
];

/// Helvetica-Bold advance widths (AFM, 1/1000 em) for cp1252 codes 32..=255, laid out as
/// [`HELVETICA`].
const HELVETICA_BOLD: [u16; 224] = [
    // 0x20
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    // 0x30
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    // 0x40
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    // 0x50
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    // 0x60
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    // 0x70
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 350,
    // 0x80
    556, 350, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350,
    // 0x90
    350, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 350, 500, 667,
    // 0xA0
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    // 0xB0
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    // 0xC0
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    // 0xD0
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    // 0xE0
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278,
    // 0xF0
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556,
];

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn created() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 3, 14, 9, 30, 5)
            .single()
            .expect("valid date")
    }

    fn doc(blocks: Vec<Block>) -> Document {
        Document {
            title: "Eingangsbestätigung".into(),
            author: "Stadt Musterstadt".into(),
            lang: "de".into(),
            blocks,
        }
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn count(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .filter(|w| *w == needle)
            .count()
    }

    fn assert_pdf(bytes: &[u8]) {
        assert!(bytes.starts_with(b"%PDF-"));
        assert!(bytes.trim_ascii_end().ends_with(b"%%EOF"));
    }

    /// The `/Count` of the page tree.
    fn page_count(bytes: &[u8]) -> usize {
        let text = String::from_utf8_lossy(bytes);
        let at = text.find("/Count ").expect("page tree count");
        text[at + 7..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .expect("number")
    }

    const LOREM: &str = "Die Gebühr für die Ausstellung wird mit Zugang dieses Bescheids fällig. \
        Bitte überweisen Sie den Betrag unter Angabe des Kassenzeichens innerhalb von \
        vierzehn Tagen auf das unten genannte Konto der Stadtkasse.";

    #[test]
    fn starts_and_ends_like_a_pdf() {
        let bytes = render(&doc(vec![Block::Paragraph("Hallo".into())]), created());
        assert_pdf(&bytes);
        let empty = render(&doc(Vec::new()), created());
        assert_pdf(&empty);
        assert_eq!(page_count(&empty), 1);
        assert!(contains(&empty, b"Seite 1 von 1"));
    }

    #[test]
    fn metadata_and_fonts() {
        let bytes = render(&doc(vec![Block::Heading("Bescheid".into())]), created());
        assert!(contains(&bytes, b"/Lang (de)"));
        assert!(contains(&bytes, b"/Producer (Stadtkern)"));
        assert!(contains(&bytes, b"/Author (Stadt Musterstadt)"));
        assert!(contains(&bytes, b"/CreationDate (D:20250314093005Z)"));
        assert!(contains(&bytes, b"/BaseFont /Helvetica\n"));
        assert!(contains(&bytes, b"/BaseFont /Helvetica-Bold"));
        assert_eq!(count(&bytes, b"/Encoding /WinAnsiEncoding"), 2);
        assert!(contains(&bytes, b"(Bescheid) Tj"));
        assert!(!contains(&bytes, b"/Filter"));
    }

    #[test]
    fn cp1252_is_byte_exact() {
        assert_eq!(
            encode_cp1252("Gebühr für Straße – 5 €"),
            b"Geb\xFChr f\xFCr Stra\xDFe \x96 5 \x80".to_vec()
        );
        assert_eq!(
            encode_cp1252("ÄÖÜäöü"),
            vec![0xC4, 0xD6, 0xDC, 0xE4, 0xF6, 0xFC]
        );
        assert_eq!(
            encode_cp1252("„Zitat“ — …"),
            b"\x84Zitat\x93 \x97 \x85".to_vec()
        );
        assert_eq!(
            encode_cp1252("‚‘’”•™Šš"),
            b"\x82\x91\x92\x94\x95\x99\x8A\x9A".to_vec()
        );
        assert_eq!(encode_cp1252("→ 😀 Ω"), b"? ? ?".to_vec());
        assert_eq!(encode_cp1252("a\u{0}\u{7}\u{85}\nb"), b"a????b".to_vec());
    }

    #[test]
    fn umlauts_are_written_as_cp1252() {
        let bytes = render(&doc(vec![Block::Paragraph("Straße".into())]), created());
        // "Stra" literal, then the hex string of ß (0xDF), then "e".
        assert!(contains(&bytes, b"(Stra) Tj\n<DF> Tj\n(e) Tj"));
    }

    #[test]
    fn long_document_breaks_pages_and_footer_matches_page_tree() {
        let mut blocks = vec![Block::Heading("Bescheid über die Gebühr".into())];
        for i in 0..120 {
            blocks.push(Block::Paragraph(format!("Absatz {i}. {LOREM}")));
            if i % 10 == 0 {
                blocks.push(Block::Rule);
                blocks.push(Block::Fields(vec![
                    ("Aktenzeichen".into(), format!("AZ-{i}")),
                    ("Anschrift".into(), "Marktplatz 1\n12345 Musterstadt".into()),
                ]));
            }
        }
        let bytes = render(&doc(blocks), created());
        assert_pdf(&bytes);
        let pages = page_count(&bytes);
        assert!(pages > 3, "{pages} pages");
        assert_eq!(count(&bytes, b"/Type /Page\n"), pages);
        for n in 1..=pages {
            let footer = format!("(Seite {n} von {pages}) Tj");
            assert!(contains(&bytes, footer.as_bytes()), "{footer}");
        }
        let beyond = format!("(Seite {} von", pages + 1);
        assert!(!contains(&bytes, beyond.as_bytes()));
    }

    /// Rectangles `x y w h re` in the output.
    fn rects(bytes: &[u8]) -> Vec<[f32; 4]> {
        String::from_utf8_lossy(bytes)
            .lines()
            .filter_map(|line| line.strip_suffix(" re"))
            .map(|ops| {
                let v: Vec<f32> = ops.split(' ').map(|n| n.parse().expect("number")).collect();
                [v[0], v[1], v[2], v[3]]
            })
            .collect()
    }

    #[test]
    fn qr_block_draws_the_qr_matrix() {
        let payload = "BCD\n002\n1\nSCT\nCOBADEFFXXX\nStadtkasse Musterstadt\n\
            DE89370400440532013000\nEUR42.50\n\nRF18539007547034\n\n";
        let blocks = vec![
            Block::Paragraph("Bitte zahlen Sie per GiroCode.".into()),
            Block::Qr {
                payload: payload.into(),
                caption: "GiroCode – Betrag 42,50 €".into(),
            },
        ];
        let bytes = render(&doc(blocks), created());
        assert_pdf(&bytes);
        let code = qr_code(payload).expect("encodable");
        assert_eq!(code.error_correction_level(), EcLevel::M);
        let found = rects(&bytes);
        assert_eq!(found.len(), qr_runs(&code).len());

        // Decode the rectangles back into a module matrix and compare.
        let width = code.width();
        let module = QR_SIZE / width as f32;
        let left = found.iter().map(|r| r[0]).fold(f32::MAX, f32::min);
        let top = found.iter().map(|r| r[1] + r[3]).fold(f32::MIN, f32::max);
        assert!((left - (MARGIN + QR_QUIET as f32 * module)).abs() < 0.01);
        let mut matrix = vec![Color::Light; width * width];
        for [x, y, w, h] in found {
            assert!((h - module).abs() < 0.01);
            let col = ((x - left) / module).round() as usize;
            let row = ((top - y - h) / module).round() as usize;
            let len = (w / module).round() as usize;
            for c in col..col + len {
                matrix[row * width + c] = Color::Dark;
            }
        }
        assert_eq!(matrix, code.to_colors());
        let dark = code
            .to_colors()
            .iter()
            .filter(|&&c| c == Color::Dark)
            .count();
        assert_eq!(matrix.iter().filter(|&&c| c == Color::Dark).count(), dark);
        // The symbol is 40 mm wide; the quiet zone comes on top.
        assert!((QR_SIZE / MM - 40.0).abs() < 0.01);
        assert!(contains(
            &bytes,
            b"(GiroCode ) Tj\n<96> Tj\n( Betrag 42,50 ) Tj\n<80> Tj"
        ));
    }

    #[test]
    fn glyph_widths_are_afm_metrics() {
        assert!((text_width(b"Hello", Font::Regular, 10.0) - 22.78).abs() < 1e-4);
        assert!((text_width(b"Hello", Font::Bold, 10.0) - 24.45).abs() < 1e-4);
        assert_eq!(Font::Regular.advance(0xFC), 556); // ü
        assert_eq!(Font::Bold.advance(0xDF), 611); // ß
        assert_eq!(Font::Regular.advance(0x80), 556); // €
        assert_eq!(Font::Bold.advance(b'@'), 975);
        assert_eq!(Font::Regular.advance(0x97), 1000); // —
        assert_eq!(Font::Regular.advance(0x07), 0);
    }

    #[test]
    fn wrapping_never_exceeds_the_width() {
        let long_word =
            "Donaudampfschifffahrtsgesellschaftskapitänswitwenrentenversicherung".repeat(8);
        let texts = [
            LOREM.to_string(),
            long_word.clone(),
            format!("a {long_word} b c"),
            "W".repeat(500),
        ];
        for text in &texts {
            for font in [Font::Regular, Font::Bold] {
                for max in [20.0, 55.5, 100.0, TEXT_W, 0.4 * TEXT_W] {
                    let lines = wrap(text, font, BODY_SIZE, max);
                    assert!(!lines.is_empty());
                    for line in &lines {
                        let w = text_width(line, font, BODY_SIZE);
                        assert!(w <= max, "{w} > {max}: {}", String::from_utf8_lossy(line));
                        assert!(!line.starts_with(b" ") && !line.ends_with(b" "));
                    }
                    // Nothing but spaces is lost.
                    let joined: Vec<u8> =
                        lines.concat().into_iter().filter(|&b| b != b' ').collect();
                    let original: Vec<u8> = encode_cp1252(text)
                        .into_iter()
                        .filter(|&b| b != b' ')
                        .collect();
                    assert_eq!(joined, original);
                }
            }
        }
        assert_eq!(wrap("eins\n\nzwei", Font::Regular, 10.0, TEXT_W).len(), 3);
        assert_eq!(
            wrap("", Font::Regular, 10.0, TEXT_W),
            vec![Vec::<u8>::new()]
        );
        let hard = wrap(&long_word, Font::Regular, 10.0, TEXT_W);
        assert!(hard.len() > 1);
    }

    #[test]
    fn footer_title_is_shortened() {
        let title = "Sehr langer Titel ".repeat(40);
        let short = truncate(encode_cp1252(&title), Font::Regular, FOOTER_SIZE, 200.0);
        assert!(text_width(&short, Font::Regular, FOOTER_SIZE) <= 200.0);
        assert_eq!(short.last(), Some(&0x85));
        let mut d = doc(Vec::new());
        d.title = title;
        assert_pdf(&render(&d, created()));
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let word = "x".repeat(100_000);
        let control: String = (0u32..0x300).filter_map(char::from_u32).collect();
        let blocks = vec![
            Block::Heading(String::new()),
            Block::Heading(LOREM.repeat(60)),
            Block::Paragraph(String::new()),
            Block::Paragraph(word.clone()),
            Block::Paragraph(control.clone()),
            Block::Paragraph("\r\n\r\r\n\t\u{0}\u{1b}[31m\u{202e}rtl\u{feff}😀\u{ad}".into()),
            Block::Paragraph("\n".repeat(500)),
            Block::Fields(Vec::new()),
            Block::Fields(vec![
                (String::new(), String::new()),
                (word.clone(), word.clone()),
                ("Zeilen".into(), "Zeile\n".repeat(300)),
                (control.clone(), control),
            ]),
            Block::Qr {
                payload: String::new(),
                caption: String::new(),
            },
            Block::Qr {
                payload: "ä".repeat(5000),
                caption: word,
            },
            Block::Rule,
        ];
        let mut d = doc(blocks);
        d.title = "\u{0}(unbalanced \\ title))".into();
        d.author = String::new();
        d.lang = String::new();
        let bytes = render(&d, created());
        assert_pdf(&bytes);
        assert!(contains(&bytes, b"/Lang (de)"));
        assert!(contains(&bytes, b"QR-Code nicht darstellbar"));

        let extreme = Utc
            .with_ymd_and_hms(-44, 1, 1, 0, 0, 0)
            .single()
            .expect("date");
        assert_pdf(&render(&doc(Vec::new()), extreme));
    }

    #[test]
    fn ten_thousand_paragraphs() {
        let blocks = (0..10_000)
            .map(|i| Block::Paragraph(format!("Absatz {i}")))
            .collect();
        let bytes = render(&doc(blocks), created());
        assert_pdf(&bytes);
        let pages = page_count(&bytes);
        assert!(pages > 100);
        assert!(contains(
            &bytes,
            format!("(Seite {pages} von {pages}) Tj").as_bytes()
        ));
        assert!(contains(&bytes, b"(Absatz 9999) Tj"));
    }
}
