//! The schemas Fabrique serves (RFC 7643 §4 and §8.7.1): core User, Group and the enterprise user
//! extension, described once here. The same description answers `/Schemas`, gives attribute names
//! their canonical spelling, and tells which string attributes compare case-exactly.

use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// An attribute's data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Boolean,
    DateTime,
    Reference,
    Binary,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
}

/// One attribute of a schema.
#[derive(Debug)]
pub struct Attribute {
    pub name: &'static str,
    pub kind: Kind,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    /// `server` uniqueness (userName); `none` otherwise.
    pub unique: bool,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [Attribute],
    pub description: &'static str,
}

const fn text(name: &'static str, description: &'static str) -> Attribute {
    Attribute {
        name,
        kind: Kind::String,
        multi_valued: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        unique: false,
        canonical_values: &[],
        reference_types: &[],
        sub_attributes: &[],
        description,
    }
}

const fn boolean(name: &'static str, description: &'static str) -> Attribute {
    Attribute {
        kind: Kind::Boolean,
        ..text(name, description)
    }
}

const fn reference(
    name: &'static str,
    types: &'static [&'static str],
    description: &'static str,
) -> Attribute {
    Attribute {
        kind: Kind::Reference,
        case_exact: true,
        reference_types: types,
        ..text(name, description)
    }
}

const fn complex(
    name: &'static str,
    sub_attributes: &'static [Attribute],
    description: &'static str,
) -> Attribute {
    Attribute {
        kind: Kind::Complex,
        sub_attributes,
        ..text(name, description)
    }
}

const fn multi(attribute: Attribute) -> Attribute {
    Attribute {
        multi_valued: true,
        ..attribute
    }
}

const fn typed(attribute: Attribute, canonical_values: &'static [&'static str]) -> Attribute {
    Attribute {
        canonical_values,
        ..attribute
    }
}

/// `value`, `display`, `type`, `primary`: the sub-attributes of most multi-valued attributes.
macro_rules! plural_sub_attributes {
    ($value:expr, $types:expr) => {
        &[
            $value,
            text(
                "display",
                "A human-readable name, primarily used for display purposes.",
            ),
            typed(
                text("type", "A label indicating the attribute's function."),
                $types,
            ),
            boolean(
                "primary",
                "Whether this is the primary value of the attribute.",
            ),
        ]
    };
}

pub static USER_ATTRIBUTES: &[Attribute] = &[
    Attribute {
        required: true,
        unique: true,
        ..text(
            "userName",
            "Unique identifier for the User, typically used to sign in.",
        )
    },
    complex(
        "name",
        &[
            text("formatted", "The full name, formatted for display."),
            text("familyName", "The family name."),
            text("givenName", "The given name."),
            text("middleName", "The middle name(s)."),
            text("honorificPrefix", "The honorific prefix(es), e.g. 'Ms.'."),
            text("honorificSuffix", "The honorific suffix(es), e.g. 'III'."),
        ],
        "The components of the user's real name.",
    ),
    text("displayName", "The name of the User, suitable for display."),
    text("nickName", "The casual way to address the user."),
    reference(
        "profileUrl",
        &["external"],
        "A URI of the user's online profile.",
    ),
    text("title", "The user's title, such as 'Vice President'."),
    text(
        "userType",
        "The relationship between the organization and the user.",
    ),
    text(
        "preferredLanguage",
        "The user's preferred written or spoken language.",
    ),
    text(
        "locale",
        "The user's default location, for localizing items.",
    ),
    text("timezone", "The user's time zone, in the 'Olson' format."),
    boolean(
        "active",
        "The user's administrative status; false suspends the user and their API keys.",
    ),
    multi(complex(
        "emails",
        plural_sub_attributes!(
            text("value", "E-mail address for the user."),
            &["work", "home", "other"]
        ),
        "E-mail addresses for the user.",
    )),
    multi(complex(
        "phoneNumbers",
        plural_sub_attributes!(
            text("value", "Phone number of the user."),
            &["work", "home", "mobile", "fax", "pager", "other"]
        ),
        "Phone numbers for the user.",
    )),
    multi(complex(
        "ims",
        plural_sub_attributes!(
            text("value", "Instant messaging address for the user."),
            &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]
        ),
        "Instant messaging addresses for the user.",
    )),
    multi(complex(
        "photos",
        plural_sub_attributes!(
            reference("value", &["external"], "URL of a photo of the user."),
            &["photo", "thumbnail"]
        ),
        "URLs of photos of the user.",
    )),
    multi(complex(
        "addresses",
        &[
            text(
                "formatted",
                "The full mailing address, formatted for display.",
            ),
            text("streetAddress", "The full street address component."),
            text("locality", "The city or locality component."),
            text("region", "The state or region component."),
            text("postalCode", "The zip code or postal code component."),
            text("country", "The country name component."),
            typed(
                text("type", "A label indicating the attribute's function."),
                &["work", "home", "other"],
            ),
            boolean("primary", "Whether this is the primary address."),
        ],
        "A physical mailing address for this user.",
    )),
    Attribute {
        mutability: Mutability::ReadOnly,
        ..multi(complex(
            "groups",
            &[
                Attribute {
                    mutability: Mutability::ReadOnly,
                    case_exact: true,
                    ..text("value", "The identifier of the user's group.")
                },
                Attribute {
                    mutability: Mutability::ReadOnly,
                    ..reference("$ref", &["Group"], "The URI of the group.")
                },
                Attribute {
                    mutability: Mutability::ReadOnly,
                    ..text("display", "The group's display name.")
                },
                Attribute {
                    mutability: Mutability::ReadOnly,
                    ..typed(text("type", "How the user is a member."), &["direct"])
                },
            ],
            "The teams the user belongs to; changed through the Group resource.",
        ))
    },
    multi(complex(
        "entitlements",
        plural_sub_attributes!(text("value", "The value of an entitlement."), &[]),
        "A list of entitlements for the user.",
    )),
    multi(complex(
        "roles",
        plural_sub_attributes!(text("value", "The value of a role."), &[]),
        "A list of roles for the user.",
    )),
    multi(complex(
        "x509Certificates",
        plural_sub_attributes!(
            Attribute {
                kind: Kind::Binary,
                case_exact: true,
                ..text("value", "The value of an X.509 certificate.")
            },
            &[]
        ),
        "A list of certificates issued to the user.",
    )),
];

pub static ENTERPRISE_ATTRIBUTES: &[Attribute] = &[
    text(
        "employeeNumber",
        "Numeric or alphanumeric identifier assigned to a person.",
    ),
    text("costCenter", "Identifies the name of a cost center."),
    text("organization", "Identifies the name of an organization."),
    text("division", "Identifies the name of a division."),
    text("department", "Identifies the name of a department."),
    complex(
        "manager",
        &[
            Attribute {
                case_exact: true,
                ..text(
                    "value",
                    "The id of the SCIM resource representing the manager.",
                )
            },
            reference("$ref", &["User"], "The URI of the manager's SCIM resource."),
            Attribute {
                mutability: Mutability::ReadOnly,
                ..text("displayName", "The display name of the manager.")
            },
        ],
        "The user's manager.",
    ),
];

pub static GROUP_ATTRIBUTES: &[Attribute] = &[
    Attribute {
        required: true,
        ..text("displayName", "A human-readable name for the team.")
    },
    multi(complex(
        "members",
        &[
            Attribute {
                mutability: Mutability::Immutable,
                case_exact: true,
                ..text("value", "The id of a member user.")
            },
            Attribute {
                mutability: Mutability::Immutable,
                ..reference("$ref", &["User", "Group"], "The URI of the member.")
            },
            Attribute {
                mutability: Mutability::Immutable,
                ..typed(text("type", "The kind of member."), &["User", "Group"])
            },
        ],
        "The team's members: users of the team's entity.",
    )),
];

/// The attribute definitions of a schema URN.
pub fn attributes_of(schema: &str) -> Option<&'static [Attribute]> {
    if schema.eq_ignore_ascii_case(USER_SCHEMA) {
        Some(USER_ATTRIBUTES)
    } else if schema.eq_ignore_ascii_case(GROUP_SCHEMA) {
        Some(GROUP_ATTRIBUTES)
    } else if schema.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
        Some(ENTERPRISE_ATTRIBUTES)
    } else {
        None
    }
}

/// The attribute `name` (any case) among `attributes`.
pub fn find<'a>(attributes: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attributes
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

/// Whether `attribute[.sub]` compares case-exactly. `id` and `externalId` (common attributes) do;
/// unknown attributes do not (RFC 7643's default).
pub fn case_exact(attributes: &[Attribute], attribute: &str, sub: Option<&str>) -> bool {
    if attribute.eq_ignore_ascii_case("id") || attribute.eq_ignore_ascii_case("externalId") {
        return sub.is_none();
    }
    let Some(found) = find(attributes, attribute) else {
        return false;
    };
    match sub {
        None => match find(found.sub_attributes, "value") {
            Some(value) if found.kind == Kind::Complex => value.case_exact,
            _ => found.case_exact,
        },
        Some(sub) => find(found.sub_attributes, sub).is_some_and(|s| s.case_exact),
    }
}

/// The `/Schemas` representation of schema `id`.
pub fn schema_json(id: &str, base_url: &str) -> Option<Value> {
    let (name, description, attributes) = if id.eq_ignore_ascii_case(USER_SCHEMA) {
        ("User", "User Account", USER_ATTRIBUTES)
    } else if id.eq_ignore_ascii_case(GROUP_SCHEMA) {
        ("Group", "Group: a Fabrique team", GROUP_ATTRIBUTES)
    } else if id.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
        ("EnterpriseUser", "Enterprise User", ENTERPRISE_ATTRIBUTES)
    } else {
        return None;
    };
    let canonical_id = [USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_USER_SCHEMA]
        .into_iter()
        .find(|s| s.eq_ignore_ascii_case(id))
        .unwrap_or(id);
    Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": canonical_id,
        "name": name,
        "description": description,
        "attributes": attributes.iter().map(attribute_json).collect::<Vec<_>>(),
        "meta": {
            "resourceType": "Schema",
            "location": format!("{base_url}/Schemas/{canonical_id}"),
        },
    }))
}

fn attribute_json(attribute: &Attribute) -> Value {
    let mut value = json!({
        "name": attribute.name,
        "type": match attribute.kind {
            Kind::String => "string",
            Kind::Boolean => "boolean",
            Kind::DateTime => "dateTime",
            Kind::Reference => "reference",
            Kind::Binary => "binary",
            Kind::Complex => "complex",
        },
        "multiValued": attribute.multi_valued,
        "description": attribute.description,
        "required": attribute.required,
        "caseExact": attribute.case_exact,
        "mutability": match attribute.mutability {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
        },
        "returned": "default",
        "uniqueness": if attribute.unique { "server" } else { "none" },
    });
    if !attribute.canonical_values.is_empty() {
        value["canonicalValues"] = json!(attribute.canonical_values);
    }
    if !attribute.reference_types.is_empty() {
        value["referenceTypes"] = json!(attribute.reference_types);
    }
    if !attribute.sub_attributes.is_empty() {
        value["subAttributes"] = Value::Array(
            attribute
                .sub_attributes
                .iter()
                .map(attribute_json)
                .collect(),
        );
    }
    value
}
