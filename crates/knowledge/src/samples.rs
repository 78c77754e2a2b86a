//! Documents made for tests (feature `samples`): a PDF of one line a page (an empty line is a
//! page without text, as a scan has), a DOCX of a heading, a paragraph and a table row, an XLSX
//! of one sheet and a PPTX of titled slides, both written as their XML parts. Made by the same crates that read them, or by hand
//! after the format, never committed as binaries.

use std::io::Write;

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};

/// A PDF whose pages show `lines` (one a page) in Courier; an empty line is a page with no text.
pub fn pdf(lines: &[&str]) -> Result<Vec<u8>, String> {
    let pages: Vec<Vec<&str>> = lines.iter().map(|line| vec![*line]).collect();
    pdf_of_pages(&pages)
}

/// A PDF of one page per entry of `pages`, each showing its lines one under the other.
pub fn pdf_of_pages<S: AsRef<str>>(pages: &[Vec<S>]) -> Result<Vec<u8>, String> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids = Vec::new();
    for lines in pages {
        let mut operations = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 10.into()]),
            Operation::new("TL", vec![14.into()]),
            Operation::new("Td", vec![50.into(), 800.into()]),
        ];
        for line in lines {
            operations.push(Operation::new("T*", vec![]));
            let text = Object::string_literal(line.as_ref());
            operations.push(Operation::new("Tj", vec![text]));
        }
        operations.push(Operation::new("ET", vec![]));
        let encoded = Content { operations }.encode().map_err(|e| e.to_string())?;
        let content_id = doc.add_object(Stream::new(dictionary! {}, encoded));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = i64::try_from(kids.len()).map_err(|e| e.to_string())?;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// A DOCX of a heading, a paragraph and a one-row table of two cells.
pub fn docx(heading: &str, paragraph: &str, cells: [&str; 2]) -> Result<Vec<u8>, String> {
    use docx_rs::{Docx, Paragraph, Run, Table, TableCell, TableRow};
    let text = |t: &str| Paragraph::new().add_run(Run::new().add_text(t));
    let table = Table::new(vec![TableRow::new(vec![
        TableCell::new().add_paragraph(text(cells[0])),
        TableCell::new().add_paragraph(text(cells[1])),
    ])]);
    let mut bytes = std::io::Cursor::new(Vec::new());
    Docx::new()
        .add_paragraph(text(heading).style("Heading1"))
        .add_paragraph(text(paragraph))
        .add_table(table)
        .build()
        .pack(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(bytes.into_inner())
}

/// An XLSX of one sheet named `sheet` whose rows are `rows`, as inline strings.
pub fn xlsx(sheet: &str, rows: &[&[&str]]) -> Result<Vec<u8>, String> {
    let mut data = String::new();
    for (r, row) in (1..).zip(rows) {
        data.push_str(&format!("<row r=\"{r}\">"));
        for (c, cell) in (b'A'..).zip(row.iter()) {
            let column = char::from(c);
            data.push_str(&format!(
                "<c r=\"{column}{r}\" t=\"inlineStr\"><is><t>{cell}</t></is></c>"
            ));
        }
        data.push_str("</row>");
    }
    let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    let rels = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
    let package = "http://schemas.openxmlformats.org/package/2006/relationships";
    let parts = [
        (
            "[Content_Types].xml",
            "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
             <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
             <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
             <Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>\
             <Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>\
             </Types>"
                .to_owned(),
        ),
        (
            "_rels/.rels",
            format!(
                "<?xml version=\"1.0\"?><Relationships xmlns=\"{package}\"><Relationship Id=\"rId1\" \
                 Type=\"{rels}/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>"
            ),
        ),
        (
            "xl/workbook.xml",
            format!(
                "<?xml version=\"1.0\"?><workbook xmlns=\"{main}\" xmlns:r=\"{rels}\"><sheets>\
                 <sheet name=\"{sheet}\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"
            ),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            format!(
                "<?xml version=\"1.0\"?><Relationships xmlns=\"{package}\"><Relationship Id=\"rId1\" \
                 Type=\"{rels}/worksheet\" Target=\"worksheets/sheet1.xml\"/></Relationships>"
            ),
        ),
        (
            "xl/worksheets/sheet1.xml",
            format!("<?xml version=\"1.0\"?><worksheet xmlns=\"{main}\"><sheetData>{data}</sheetData></worksheet>"),
        ),
    ];
    zipped(
        parts
            .iter()
            .map(|(name, content)| (name.to_string(), content.as_str())),
    )
}

/// A PPTX whose slides each have a title and paragraphs, and the last a one-row table of its
/// `cells`; only the parts a reader of text needs (content types, slides), compressed.
pub fn pptx(slides: &[(&str, &[&str])], cells: [&str; 2]) -> Result<Vec<u8>, String> {
    let a = "http://schemas.openxmlformats.org/drawingml/2006/main";
    let p = "http://schemas.openxmlformats.org/presentationml/2006/main";
    let paragraph =
        |text: &str| format!("<a:p><a:r><a:rPr lang=\"fr-FR\"/><a:t>{text}</a:t></a:r></a:p>");
    let shape = |placeholder: &str, paragraphs: String| {
        format!(
            "<p:sp><p:nvSpPr><p:cNvPr id=\"1\" name=\"s\"/><p:cNvSpPr/><p:nvPr>{placeholder}</p:nvPr>\
             </p:nvSpPr><p:txBody><a:bodyPr/>{paragraphs}</p:txBody></p:sp>"
        )
    };
    let mut parts = vec![(
        "[Content_Types].xml".to_owned(),
        "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
         <Default Extension=\"xml\" ContentType=\"application/xml\"/></Types>"
            .to_owned(),
    )];
    for (number, (title, body)) in (1..).zip(slides) {
        let mut shapes = shape("<p:ph type=\"title\"/>", paragraph(title));
        shapes.push_str(&shape(
            "<p:ph idx=\"1\"/>",
            body.iter().map(|t| paragraph(t)).collect(),
        ));
        if number == slides.len() {
            let cell = |t: &str| format!("<a:tc><a:txBody>{}</a:txBody></a:tc>", paragraph(t));
            shapes.push_str(&format!(
                "<p:graphicFrame><a:graphic><a:graphicData><a:tbl><a:tr>{}{}</a:tr></a:tbl>\
                 </a:graphicData></a:graphic></p:graphicFrame>",
                cell(cells[0]),
                cell(cells[1])
            ));
        }
        parts.push((
            format!("ppt/slides/slide{number}.xml"),
            format!(
                "<?xml version=\"1.0\"?><p:sld xmlns:a=\"{a}\" xmlns:p=\"{p}\"><p:cSld><p:spTree>\
                 {shapes}</p:spTree></p:cSld></p:sld>"
            ),
        ));
    }
    zipped(
        parts
            .iter()
            .map(|(name, content)| (name.clone(), content.as_str())),
    )
}

/// A zip of `parts` (name, content), compressed as office documents are.
fn zipped<'a>(parts: impl Iterator<Item = (String, &'a str)>) -> Result<Vec<u8>, String> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in parts {
        zip.start_file(name, deflated).map_err(|e| e.to_string())?;
        zip.write_all(content.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    Ok(zip.finish().map_err(|e| e.to_string())?.into_inner())
}
