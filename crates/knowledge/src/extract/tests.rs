//! Documents read by the real readers, each made by the test (`crate::samples`): a PDF (with
//! text, and a scan without), a DOCX, an XLSX, HTML, Markdown and an e-mail; damaged, empty,
//! oversized and unknown files refused.

use super::*;
use crate::samples;

fn pdf(lines: &[&str]) -> Vec<u8> {
    samples::pdf(lines).unwrap()
}

fn docx(heading: &str, paragraph: &str, cells: [&str; 2]) -> Vec<u8> {
    samples::docx(heading, paragraph, cells).unwrap()
}

fn xlsx(sheet: &str, rows: &[&[&str]]) -> Vec<u8> {
    samples::xlsx(sheet, rows).unwrap()
}

#[test]
fn a_pdf_gives_its_pages_and_a_scan_is_flagged() {
    let read = extract(
        Kind::Pdf,
        &pdf(&["Facture 42 du fournisseur Vauban", "Page deux"]),
    )
    .unwrap();
    assert_eq!(read.pages, 2);
    assert!(!read.scanned);
    assert!(
        read.blocks[0]
            .text
            .contains("Facture 42 du fournisseur Vauban"),
        "{read:?}"
    );
    assert_eq!(read.blocks.last().unwrap().page, 2);
    let scan = extract(Kind::Pdf, &pdf(&["", ""])).unwrap();
    assert!(scan.scanned, "{scan:?}");
    assert!(scan.blocks.is_empty());
    assert_eq!(text(Kind::Pdf, &pdf(&[""])), Err(Unreadable::Empty));
}

#[test]
fn a_docx_gives_its_heading_paragraph_and_table_row() {
    let read = extract(
        Kind::Docx,
        &docx("Bail", "Contrat de bail", ["Loyer", "900 EUR"]),
    )
    .unwrap();
    let kinds: Vec<(BlockKind, &str)> = read
        .blocks
        .iter()
        .map(|b| (b.kind, b.text.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (BlockKind::Heading, "Bail"),
            (BlockKind::Paragraph, "Contrat de bail"),
            (BlockKind::TableRow, "Loyer | 900 EUR"),
        ]
    );
}

#[test]
fn an_xlsx_gives_its_sheet_as_a_heading_and_its_rows() {
    let bytes = xlsx(
        "Tarifs",
        &[&["Produit", "Prix"], &["Assurance habitation", "120"]],
    );
    let read = extract(Kind::Xlsx, &bytes).unwrap();
    assert_eq!(
        read.blocks[0],
        Block {
            page: 1,
            kind: BlockKind::Heading,
            text: "Tarifs".into()
        }
    );
    assert_eq!(read.blocks[2].text, "Assurance habitation | 120");
}

#[test]
fn a_pptx_gives_each_slide_as_a_page_with_its_title_text_and_table() {
    let slides: Vec<(String, Vec<String>)> = (1..=11)
        .map(|n| {
            (
                format!("Diapositive {n}"),
                vec![format!("Point &amp; suite {n}")],
            )
        })
        .collect();
    let slides: Vec<(&str, Vec<&str>)> = slides
        .iter()
        .map(|(title, body)| (title.as_str(), body.iter().map(String::as_str).collect()))
        .collect();
    let slides: Vec<(&str, &[&str])> = slides.iter().map(|(t, b)| (*t, b.as_slice())).collect();
    let bytes = samples::pptx(&slides, ["Loyer", "9 400 EUR"]).unwrap();
    let read = extract(Kind::Pptx, &bytes).unwrap();
    assert_eq!(read.pages, 11);
    let heading = |page, text: &str| Block {
        page,
        kind: BlockKind::Heading,
        text: text.into(),
    };
    assert_eq!(read.blocks[0], heading(1, "Diapositive 1"));
    assert_eq!(read.blocks[1].text, "Point & suite 1");
    assert_eq!(read.blocks[1].kind, BlockKind::Paragraph);
    // Slide 10 comes after slide 2: slides are in their number's order, not their name's.
    assert_eq!(read.blocks[2], heading(2, "Diapositive 2"));
    let last = read.blocks.last().unwrap();
    assert_eq!((last.page, last.kind), (11, BlockKind::TableRow));
    assert_eq!(last.text, "Loyer | 9 400 EUR");
    assert_eq!(
        extract(Kind::Pptx, b"PK not a presentation"),
        Err(Unreadable::Damaged)
    );
}

#[test]
fn html_markdown_and_an_email_keep_their_headings() {
    let html =
        "<html><body><h1>Charte</h1><p>Le t&eacute;l&eacute;travail est permis.</p></body></html>";
    let read = extract(Kind::Html, html.as_bytes()).unwrap();
    assert_eq!(read.blocks[0].kind, BlockKind::Heading);
    assert_eq!(read.blocks[0].text, "Charte");
    assert_eq!(read.blocks[1].text, "Le télétravail est permis.");
    let markdown = extract(Kind::Markdown, b"# Notes\n\nune *liste*\n").unwrap();
    assert_eq!(markdown.blocks.len(), 2);
    let eml = "From: Alice <alice@example.org>\r\nSubject: Budget 2027\r\n\
               Content-Type: text/plain; charset=utf-8\r\n\r\nLe budget est vote.\r\n";
    let read = extract(Kind::Eml, eml.as_bytes()).unwrap();
    assert_eq!(read.blocks[0].text, "Budget 2027");
    assert_eq!(read.blocks[1].text, "From: alice@example.org");
    assert_eq!(read.blocks[2].text, "Le budget est vote.");
}

#[test]
fn a_kind_is_known_by_its_extension() {
    assert_eq!(Kind::of_name("Rapport.PDF"), Some(Kind::Pdf));
    assert_eq!(Kind::of_name("bail.docx"), Some(Kind::Docx));
    assert_eq!(Kind::of_name("tarifs.xlsx"), Some(Kind::Xlsx));
    assert_eq!(Kind::of_name("revue.pptx"), Some(Kind::Pptx));
    assert_eq!(Kind::of_name("notes.md"), Some(Kind::Markdown));
    assert_eq!(Kind::of_name("notes.txt"), Some(Kind::Text));
    assert_eq!(Kind::of_name("message.eml"), Some(Kind::Eml));
    for other in ["payload.exe", "old.doc", "noextension", ""] {
        assert_eq!(Kind::of_name(other), None, "{other}");
    }
}

#[test]
fn damaged_empty_and_oversized_documents_are_refused_plainly() {
    assert_eq!(
        extract(Kind::Pdf, b"%PDF-1.5 not really"),
        Err(Unreadable::Damaged)
    );
    assert_eq!(
        extract(Kind::Docx, b"PK\x03\x04 not a zip"),
        Err(Unreadable::Damaged)
    );
    assert_eq!(
        extract(Kind::Xlsx, b"PK\x03\x04 not a zip"),
        Err(Unreadable::Damaged)
    );
    assert_eq!(
        extract(Kind::Docx, &pdf(&["a pdf"])),
        Err(Unreadable::Damaged)
    );
    assert_eq!(
        extract(Kind::Text, &[0xff, 0xfe, 0x00]),
        Err(Unreadable::Damaged)
    );
    assert_eq!(extract(Kind::Text, b" \n\t "), Err(Unreadable::Empty));
    let huge = vec![b'a'; MAX_DOCUMENT_BYTES + 1];
    assert_eq!(extract(Kind::Text, &huge), Err(Unreadable::Size));
}
