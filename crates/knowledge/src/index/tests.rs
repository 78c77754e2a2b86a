//! The index on a real directory: BM25 and vectors fused, permissions as a filter inside the
//! search (a reader of 1 % of a library still gets ten passages of that 1 %), deletion that
//! leaves the files, and embeddings found again after reopening.

use super::*;

fn chunk(
    library: &str,
    document: &str,
    readers: &[&str],
    text: &str,
    vector: Vec<f32>,
) -> IndexedChunk {
    IndexedChunk {
        id: format!("{document}:0"),
        library: library.to_owned(),
        document: document.to_owned(),
        title: format!("{document}.pdf"),
        page: 1,
        readers: readers.iter().map(|r| (*r).to_owned()).collect(),
        text: text.to_owned(),
        vector,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Hybrid when `vector` is given, over every library searched; BM25 alone otherwise.
fn search<'a>(
    libraries: &'a [String],
    tags: &'a [String],
    text: &'a str,
    vector: Option<&'a [f32]>,
) -> Search<'a> {
    let semantic: &'a [Semantic<'a>] = match vector {
        Some(vector) => Box::leak(Box::new([Semantic { libraries, vector }])),
        None => &[],
    };
    Search {
        libraries,
        tags,
        text,
        semantic,
        limit: 10,
    }
}

#[test]
fn words_and_vectors_are_fused_and_accents_folded() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    index
        .add(&[
            chunk(
                "lib",
                "a",
                &["library:lib"],
                "Les congés payés sont de 25 jours.",
                vec![1.0, 0.0],
            ),
            chunk(
                "lib",
                "b",
                &["library:lib"],
                "Le télétravail est permis deux jours.",
                vec![0.0, 1.0],
            ),
        ])
        .unwrap();
    let libraries = strings(&["lib"]);
    let tags = strings(&["library:lib"]);
    let found = index
        .search(&search(&libraries, &tags, "conges", None))
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].document, "a");
    // No word in common, but the vector finds it.
    let found = index
        .search(&search(&libraries, &tags, "maison", Some(&[0.1, 0.9])))
        .unwrap();
    assert_eq!(found[0].document, "b");
    assert_eq!(found[0].title, "b.pdf");
}

#[test]
fn a_reader_of_one_percent_gets_ten_passages_of_that_percent() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    let chunks: Vec<IndexedChunk> = (0..1_000)
        .map(|n| {
            let readers: &[&str] = if n % 100 == 7 {
                &["team:audit"]
            } else {
                &["team:others"]
            };
            let vector = vec![1.0, f32::from(u16::try_from(n).unwrap()) / 1000.0];
            chunk(
                "lib",
                &format!("d{n}"),
                readers,
                "rapport annuel de conformité",
                vector,
            )
        })
        .collect();
    index.add(&chunks).unwrap();
    let libraries = strings(&["lib"]);
    let tags = strings(&["user:u1", "team:audit"]);
    for vector in [None, Some(&[1.0_f32, 0.5][..])] {
        let found = index
            .search(&search(&libraries, &tags, "rapport conformité", vector))
            .unwrap();
        assert_eq!(found.len(), 10, "every readable passage, none other");
        for hit in &found {
            let n: usize = hit.document[1..].parse().unwrap();
            assert_eq!(n % 100, 7, "{hit:?}");
        }
    }
    let nothing = strings(&["user:u2"]);
    assert!(
        index
            .search(&search(&libraries, &nothing, "rapport", Some(&[1.0, 0.0])))
            .unwrap()
            .is_empty()
    );
    let other_library = strings(&["other"]);
    assert!(
        index
            .search(&search(&other_library, &tags, "rapport", Some(&[1.0, 0.0])))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_deleted_document_leaves_the_files_and_the_rest_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "mot de passe zanzibar";
    {
        let index = Index::open(dir.path()).unwrap();
        index
            .add(&[chunk("lib", "a", &["library:lib"], secret, vec![1.0, 0.0])])
            .unwrap();
        index
            .add(&[chunk(
                "lib",
                "b",
                &["library:lib"],
                "horaires du restaurant",
                vec![0.0, 1.0],
            )])
            .unwrap();
        index.delete_document("lib", "a").unwrap();
    }
    let mut files_hold_it = false;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        files_hold_it |= bytes.windows(8).any(|w| w == b"zanzibar");
    }
    assert!(
        !files_hold_it,
        "the deleted text is still in the index files"
    );
    let index = Index::open(dir.path()).unwrap();
    let libraries = strings(&["lib"]);
    let tags = strings(&["library:lib"]);
    assert!(
        index
            .search(&search(&libraries, &tags, "zanzibar", Some(&[1.0, 0.0])))
            .unwrap()
            .iter()
            .all(|h| h.document == "b")
    );
    let found = index
        .search(&search(&libraries, &tags, "x", Some(&[0.0, 1.0])))
        .unwrap();
    assert_eq!(found[0].document, "b", "the vector was loaded again");
    index.delete_library("lib").unwrap();
    assert!(
        index
            .search(&search(&libraries, &tags, "horaires", Some(&[0.0, 1.0])))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_document_added_again_replaces_itself_and_the_index_knows_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (libraries, tags) = (strings(&["lib"]), strings(&["library:lib"]));
    {
        let index = Index::open(dir.path()).unwrap();
        let first = chunk("lib", "a", &["library:lib"], "ancien tarif", vec![1.0, 0.0]);
        index.add(&[first]).unwrap();
        let again = chunk(
            "lib",
            "a",
            &["library:lib"],
            "nouveau tarif",
            vec![1.0, 0.0],
        );
        let other = chunk("other", "b", &["library:other"], "autre", vec![]);
        index.add(&[again, other]).unwrap();
        let found = index
            .search(&search(&libraries, &tags, "tarif", Some(&[1.0, 0.0])))
            .unwrap();
        assert_eq!(found.len(), 1, "never held twice: {found:?}");
        assert_eq!(found[0].text, "nouveau tarif");
    }
    let index = Index::open(dir.path()).unwrap();
    let held = index.documents().unwrap();
    assert_eq!(held.len(), 2);
    assert_eq!((held["a"].as_str(), held["b"].as_str()), ("lib", "other"));
    assert_eq!(
        index.document_vectors("a").unwrap(),
        vec![(0, vec![1.0, 0.0])]
    );
    assert_eq!(index.document_vectors("b").unwrap(), vec![]);
    index
        .delete_documents(&[("lib".into(), "a".into()), ("other".into(), "b".into())])
        .unwrap();
    assert!(index.documents().unwrap().is_empty());
    let found = index.search(&search(&libraries, &tags, "x", Some(&[1.0, 0.0])));
    assert!(found.unwrap().is_empty(), "its vectors left memory");
}

#[test]
fn the_vector_ranking_keeps_the_nearest_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open(dir.path()).unwrap();
    // Ten dimensions, so the eight-lane sum has a remainder; angles spread so every score differs.
    let vector = |n: u16| {
        let angle = f32::from(n) / 300.0;
        let mut v = vec![0.25; 10];
        v[0] = angle.cos();
        v[9] = angle.sin();
        v
    };
    let chunks: Vec<IndexedChunk> = (0..300)
        .map(|n| chunk("lib", &format!("d{n}"), &["team:a"], "note", vector(n)))
        .collect();
    index.add(&chunks).unwrap();
    let libraries = strings(&["lib"]);
    let query = vector(150);
    let semantic = Semantic {
        libraries: &libraries,
        vector: &query,
    };
    let found = index.nearest(&semantic, &strings(&["team:a"]), 7).unwrap();
    // Nearest first: 150, then its neighbours on either side, nearer before farther.
    let documents: Vec<&str> = found
        .iter()
        .map(|id| id.split(':').next().unwrap())
        .collect();
    assert_eq!(documents[0], "d150");
    let mut rest: Vec<&str> = documents[1..].to_vec();
    rest.sort_unstable();
    assert_eq!(rest, ["d147", "d148", "d149", "d151", "d152", "d153"]);
    assert_eq!(
        index
            .nearest(&semantic, &strings(&["team:a"]), 0)
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        index
            .nearest(&semantic, &strings(&["team:a"]), 500)
            .unwrap()
            .len(),
        300
    );

    let a: Vec<f32> = (0..13)
        .map(|n| f32::from(u8::try_from(n).unwrap()))
        .collect();
    assert_eq!(dot(&a, &a), a.iter().map(|x| x * x).sum::<f32>());
}
