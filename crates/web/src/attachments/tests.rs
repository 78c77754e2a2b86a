//! Documents read by the real readers: a PDF made with `lopdf`, a DOCX made with `docx-rs`,
//! text and Markdown; damaged, empty, oversized and unknown files refused.

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

use super::*;

/// A one-page PDF showing `line` in Courier.
fn pdf(line: &str) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("Td", vec![72.into(), 700.into()]),
            Operation::new("Tj", vec![Object::string_literal(line)]),
            Operation::new("ET", vec![]),
        ],
    };
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();
    bytes
}

/// A DOCX of one paragraph and a one-cell table.
fn docx(paragraph: &str, cell: &str) -> Vec<u8> {
    use docx_rs::{Docx, Paragraph, Run, Table, TableCell, TableRow};
    let text = |t: &str| Paragraph::new().add_run(Run::new().add_text(t));
    let table = Table::new(vec![TableRow::new(vec![
        TableCell::new().add_paragraph(text(cell)),
    ])]);
    let mut bytes = std::io::Cursor::new(Vec::new());
    Docx::new()
        .add_paragraph(text(paragraph))
        .add_table(table)
        .build()
        .pack(&mut bytes)
        .unwrap();
    bytes.into_inner()
}

#[test]
fn a_pdf_a_docx_a_text_and_markdown_give_their_text() {
    let from_pdf = extract(Kind::Pdf, &pdf("Facture 42 du fournisseur Vauban")).unwrap();
    assert!(
        from_pdf.contains("Facture 42 du fournisseur Vauban"),
        "{from_pdf:?}"
    );
    let from_docx = extract(Kind::Docx, &docx("Contrat de bail", "Loyer : 900 EUR")).unwrap();
    assert_eq!(from_docx, "Contrat de bail\nLoyer : 900 EUR");
    let markdown = "# Notes\n\n- une *liste*\n";
    assert_eq!(
        extract(Kind::Text, markdown.as_bytes()).unwrap(),
        markdown.trim()
    );
}

#[test]
fn a_kind_is_known_by_its_extension_and_only_four_are_read() {
    assert_eq!(Kind::of_name("Rapport.PDF"), Some(Kind::Pdf));
    assert_eq!(Kind::of_name("bail.docx"), Some(Kind::Docx));
    assert_eq!(Kind::of_name("notes.md"), Some(Kind::Text));
    assert_eq!(Kind::of_name("notes.txt"), Some(Kind::Text));
    for other in ["payload.exe", "old.doc", "sheet.xlsx", "noextension", ""] {
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
    assert_eq!(extract(Kind::Docx, &pdf("a pdf")), Err(Unreadable::Damaged));
    assert_eq!(
        extract(Kind::Text, &[0xff, 0xfe, 0x00]),
        Err(Unreadable::Damaged)
    );
    assert_eq!(extract(Kind::Text, b" \n\t "), Err(Unreadable::Empty));
    assert_eq!(extract(Kind::Pdf, &pdf("")), Err(Unreadable::Empty));
    let huge = vec![b'a'; MAX_DOCUMENT_BYTES + 1];
    assert_eq!(extract(Kind::Text, &huge), Err(Unreadable::Size));
}

#[test]
fn tokens_are_estimated_at_four_characters_each() {
    assert_eq!(estimated_tokens(""), 0);
    assert_eq!(estimated_tokens("abcd"), 1);
    assert_eq!(estimated_tokens("abcde"), 2);
    assert_eq!(estimated_tokens("éééé"), 1, "characters, not bytes");
}
