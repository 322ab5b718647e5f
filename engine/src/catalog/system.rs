//! The system catalog PostgreSQL tools read: `pg_catalog` (`pg_namespace`,
//! `pg_class`, `pg_attribute`, `pg_type`, `pg_database`, `pg_am` and the empty tables
//! psql's `\d` looks into) and `information_schema` (`schemata`, `tables`,
//! `columns`). They are small replicated tables, rebuilt from the user tables each
//! time the catalog changes, so every node of a cluster holds the same ones and plans
//! a query over them as any other. OIDs follow from the tables' names in order.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringViewArray,
};
use arrow::datatypes::{DataType, Field, Schema};

use super::pg_types::{format_type, pg_type, type_modifier, TYPES};
use super::{Table, TablePartitioning, TableStatistics};

pub const PG_CATALOG: &str = "pg_catalog";
pub const INFORMATION_SCHEMA: &str = "information_schema";
/// Where user tables are, as tools expect to find them.
pub const PUBLIC: &str = "public";
/// The one database a Percore cluster is.
pub const DATABASE: &str = "percore";

const PG_CATALOG_OID: i64 = 11;
const PUBLIC_OID: i64 = 2200;
const INFORMATION_SCHEMA_OID: i64 = 13_000;
/// `pg_authid` of the owner of everything, as `pg_get_userbyid` names it.
pub const OWNER_OID: i64 = 10;
pub const OWNER: &str = "percore";
const DATABASE_OID: i64 = 16_383;
/// PostgreSQL's first OID for user objects.
const FIRST_TABLE_OID: i64 = 16_384;
const HEAP_OID: i64 = 2;
/// PostgreSQL's `pg_default` (and `pg_global` after it).
const DEFAULT_TABLESPACE_OID: i64 = 1663;

/// Whether tools name this schema for the system tables.
pub fn is_system_schema(schema: &str) -> bool {
    schema.eq_ignore_ascii_case(PG_CATALOG) || schema.eq_ignore_ascii_case(INFORMATION_SCHEMA)
}

/// The system tables describing `tables` (user tables by lowercase name), keyed by
/// `schema.table`, each with `partitions` replicated partitions.
pub fn system_tables(
    tables: &BTreeMap<String, Arc<Table>>,
    partitions: usize,
) -> BTreeMap<String, Arc<Table>> {
    let user: Vec<(i64, &Table)> = tables
        .values()
        .zip(FIRST_TABLE_OID..)
        .map(|(table, oid)| (oid, table.as_ref()))
        .collect();
    let built = [
        (PG_CATALOG, "pg_namespace", pg_namespace()),
        (PG_CATALOG, "pg_class", pg_class(&user)),
        (PG_CATALOG, "pg_attribute", pg_attribute(&user)),
        (PG_CATALOG, "pg_type", pg_type_table()),
        (PG_CATALOG, "pg_database", pg_database()),
        (PG_CATALOG, "pg_am", pg_am()),
        (PG_CATALOG, "pg_roles", pg_roles()),
        (PG_CATALOG, "pg_tablespace", pg_tablespace()),
        (
            PG_CATALOG,
            "pg_auth_members",
            empty(&[
                ("roleid", I),
                ("member", I),
                ("grantor", I),
                ("admin_option", B),
            ]),
        ),
        (
            PG_CATALOG,
            "pg_proc",
            empty(&[
                ("oid", I),
                ("proname", S),
                ("pronamespace", I),
                ("proowner", I),
                ("prokind", S),
                ("prorettype", I),
                ("proargtypes", IS),
                ("prosrc", S),
            ]),
        ),
        (
            PG_CATALOG,
            "pg_index",
            empty(&[("indrelid", I), ("indexrelid", I)]),
        ),
        (
            PG_CATALOG,
            "pg_inherits",
            empty(&[
                ("inhrelid", I),
                ("inhparent", I),
                ("inhseqno", I),
                ("inhdetachpending", B),
            ]),
        ),
        (
            PG_CATALOG,
            "pg_constraint",
            empty(&[("oid", I), ("conname", S), ("conrelid", I), ("contype", S)]),
        ),
        (
            PG_CATALOG,
            "pg_attrdef",
            empty(&[("adrelid", I), ("adnum", I), ("adbin", S)]),
        ),
        (
            PG_CATALOG,
            "pg_description",
            empty(&[
                ("objoid", I),
                ("classoid", I),
                ("objsubid", I),
                ("description", S),
            ]),
        ),
        (
            PG_CATALOG,
            "pg_collation",
            empty(&[("oid", I), ("collname", S)]),
        ),
        (
            PG_CATALOG,
            "pg_trigger",
            empty(&[("oid", I), ("tgrelid", I), ("tgname", S)]),
        ),
        (
            PG_CATALOG,
            "pg_policy",
            empty(&[
                ("oid", I),
                ("polname", S),
                ("polrelid", I),
                ("polcmd", S),
                ("polpermissive", B),
                ("polroles", IS),
                ("polqual", S),
                ("polwithcheck", S),
            ]),
        ),
        (
            PG_CATALOG,
            "pg_statistic_ext",
            empty(&[
                ("oid", I),
                ("stxrelid", I),
                ("stxname", S),
                ("stxnamespace", I),
                ("stxstattarget", I),
                ("stxkind", SS),
            ]),
        ),
        (
            PG_CATALOG,
            "pg_publication",
            empty(&[("oid", I), ("pubname", S), ("puballtables", B)]),
        ),
        (
            PG_CATALOG,
            "pg_publication_namespace",
            empty(&[("oid", I), ("pnpubid", I), ("pnnspid", I)]),
        ),
        (
            PG_CATALOG,
            "pg_publication_rel",
            empty(&[
                ("oid", I),
                ("prpubid", I),
                ("prrelid", I),
                ("prqual", S),
                ("prattrs", IS),
            ]),
        ),
        (
            PG_CATALOG,
            "pg_partitioned_table",
            empty(&[("partrelid", I), ("partstrat", S)]),
        ),
        (INFORMATION_SCHEMA, "schemata", schemata()),
        (INFORMATION_SCHEMA, "tables", information_tables(&user)),
        (INFORMATION_SCHEMA, "columns", information_columns(&user)),
    ];
    built
        .into_iter()
        .map(|(schema, name, batch)| {
            let name = format!("{schema}.{name}");
            let table = Table {
                name: name.clone(),
                schema: batch.schema(),
                partitioning: TablePartitioning::Replicated,
                row_count: batch.num_rows(),
                partitions: vec![vec![batch]; partitions],
                statistics: TableStatistics::default(),
                parquet: None,
                csv: None,
                series: None,
                stored: None,
            };
            (name, Arc::new(table))
        })
        .collect()
}

/// Column kinds of the system tables.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
    Bool,
    /// PostgreSQL's `oid[]`, `int2[]`, `int2vector`.
    Ints,
    /// `char[]`, `text[]`.
    Texts,
}
const I: Kind = Kind::Int;
const S: Kind = Kind::Text;
const B: Kind = Kind::Bool;
const IS: Kind = Kind::Ints;
const SS: Kind = Kind::Texts;

/// One column's values.
enum Values {
    Int(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
    Bool(Vec<bool>),
    Float(Vec<f64>),
    /// An array column of this element type, every value NULL.
    NullLists(DataType, usize),
}

/// A batch of named columns of equal length.
fn batch(columns: Vec<(&str, Values)>) -> RecordBatch {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = columns
        .into_iter()
        .map(|(name, values)| match values {
            Values::Int(v) => (
                Field::new(name, DataType::Int64, true),
                Arc::new(Int64Array::from(v)) as ArrayRef,
            ),
            Values::Text(v) => (
                Field::new(name, DataType::Utf8View, true),
                Arc::new(StringViewArray::from(v)) as ArrayRef,
            ),
            Values::Bool(v) => (
                Field::new(name, DataType::Boolean, false),
                Arc::new(BooleanArray::from(v)) as ArrayRef,
            ),
            Values::Float(v) => (
                Field::new(name, DataType::Float64, false),
                Arc::new(Float64Array::from(v)) as ArrayRef,
            ),
            Values::NullLists(element, count) => {
                let data_type = DataType::new_list(element, true);
                let array = arrow::array::new_null_array(&data_type, count);
                (Field::new(name, data_type, true), array)
            }
        })
        .unzip();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .expect("system table columns have equal lengths")
}

fn empty(columns: &[(&str, Kind)]) -> RecordBatch {
    batch(
        columns
            .iter()
            .map(|(name, kind)| {
                let values = match kind {
                    Kind::Int => Values::Int(Vec::new()),
                    Kind::Text => Values::Text(Vec::new()),
                    Kind::Bool => Values::Bool(Vec::new()),
                    Kind::Ints => Values::NullLists(DataType::Int64, 0),
                    Kind::Texts => Values::NullLists(DataType::Utf8View, 0),
                };
                (*name, values)
            })
            .collect(),
    )
}

fn ints(values: impl IntoIterator<Item = i64>) -> Values {
    Values::Int(values.into_iter().map(Some).collect())
}

fn nulls(count: usize) -> Values {
    Values::Int(vec![None; count])
}

fn texts<T: ToString>(values: impl IntoIterator<Item = T>) -> Values {
    Values::Text(values.into_iter().map(|v| Some(v.to_string())).collect())
}

fn no_texts(count: usize) -> Values {
    Values::Text(vec![None; count])
}

fn same<T: Clone>(value: T, count: usize) -> Vec<T> {
    vec![value; count]
}

fn pg_namespace() -> RecordBatch {
    batch(vec![
        (
            "oid",
            ints([PG_CATALOG_OID, PUBLIC_OID, INFORMATION_SCHEMA_OID]),
        ),
        ("nspname", texts([PG_CATALOG, PUBLIC, INFORMATION_SCHEMA])),
        ("nspowner", ints(same(OWNER_OID, 3))),
        ("nspacl", Values::NullLists(DataType::Utf8View, 3)),
    ])
}

fn pg_class(user: &[(i64, &Table)]) -> RecordBatch {
    let n = user.len();
    batch(vec![
        ("oid", ints(user.iter().map(|(oid, _)| *oid))),
        ("relname", texts(user.iter().map(|(_, t)| &t.name))),
        ("relnamespace", ints(same(PUBLIC_OID, n))),
        ("reltype", ints(same(0, n))),
        ("reloftype", ints(same(0, n))),
        ("relowner", ints(same(OWNER_OID, n))),
        ("relam", ints(same(HEAP_OID, n))),
        ("relfilenode", ints(user.iter().map(|(oid, _)| *oid))),
        ("reltablespace", ints(same(0, n))),
        ("relpages", ints(same(0, n))),
        (
            "reltuples",
            Values::Float(user.iter().map(|(_, t)| t.row_count as f64).collect()),
        ),
        ("reltoastrelid", ints(same(0, n))),
        ("relhasindex", Values::Bool(same(false, n))),
        ("relisshared", Values::Bool(same(false, n))),
        ("relpersistence", texts(same("p", n))),
        ("relkind", texts(same("r", n))),
        (
            "relnatts",
            ints(user.iter().map(|(_, t)| t.schema.fields().len() as i64)),
        ),
        ("relchecks", ints(same(0, n))),
        ("relhasrules", Values::Bool(same(false, n))),
        ("relhastriggers", Values::Bool(same(false, n))),
        ("relhassubclass", Values::Bool(same(false, n))),
        ("relrowsecurity", Values::Bool(same(false, n))),
        ("relforcerowsecurity", Values::Bool(same(false, n))),
        ("relispopulated", Values::Bool(same(true, n))),
        ("relreplident", texts(same("d", n))),
        ("relispartition", Values::Bool(same(false, n))),
        ("relacl", Values::NullLists(DataType::Utf8View, n)),
        ("reloptions", Values::NullLists(DataType::Utf8View, n)),
        ("relpartbound", no_texts(n)),
    ])
}

fn pg_attribute(user: &[(i64, &Table)]) -> RecordBatch {
    let columns: Vec<(i64, i64, &Field)> = user
        .iter()
        .flat_map(|(oid, table)| {
            table
                .schema
                .fields()
                .iter()
                .zip(1..)
                .map(move |(field, number)| (*oid, number, field.as_ref()))
        })
        .collect();
    let n = columns.len();
    let types: Vec<(u32, i16)> = columns
        .iter()
        .map(|(_, _, f)| pg_type(f.data_type()))
        .collect();
    batch(vec![
        ("attrelid", ints(columns.iter().map(|(oid, ..)| *oid))),
        ("attname", texts(columns.iter().map(|(_, _, f)| f.name()))),
        (
            "atttypid",
            ints(types.iter().map(|(oid, _)| i64::from(*oid))),
        ),
        ("attlen", ints(types.iter().map(|(_, len)| i64::from(*len)))),
        ("attnum", ints(columns.iter().map(|(_, number, _)| *number))),
        (
            "attnotnull",
            Values::Bool(columns.iter().map(|(_, _, f)| !f.is_nullable()).collect()),
        ),
        ("atthasdef", Values::Bool(same(false, n))),
        ("attisdropped", Values::Bool(same(false, n))),
        (
            "atttypmod",
            ints(
                columns
                    .iter()
                    .map(|(_, _, f)| i64::from(type_modifier(f.data_type()))),
            ),
        ),
        ("attndims", ints(same(0, n))),
        ("attidentity", texts(same("", n))),
        ("attgenerated", texts(same("", n))),
        ("attcollation", ints(same(0, n))),
        ("attstattarget", ints(same(-1, n))),
        // Variable-length values are stored extended, fixed-length ones plain.
        (
            "attstorage",
            texts(
                types
                    .iter()
                    .map(|(_, len)| if *len < 0 { "x" } else { "p" }),
            ),
        ),
        ("attcompression", texts(same("", n))),
        ("attacl", Values::NullLists(DataType::Utf8View, n)),
        ("attoptions", Values::NullLists(DataType::Utf8View, n)),
        ("attfdwoptions", Values::NullLists(DataType::Utf8View, n)),
    ])
}

fn pg_type_table() -> RecordBatch {
    let n = TYPES.len();
    batch(vec![
        ("oid", ints(TYPES.iter().map(|(oid, ..)| i64::from(*oid)))),
        ("typname", texts(TYPES.iter().map(|(_, name, ..)| name))),
        ("typnamespace", ints(same(PG_CATALOG_OID, n))),
        ("typowner", ints(same(OWNER_OID, n))),
        (
            "typlen",
            ints(TYPES.iter().map(|(_, _, len, _)| i64::from(*len))),
        ),
        (
            "typbyval",
            Values::Bool(
                TYPES
                    .iter()
                    .map(|(_, _, len, _)| (1..=8).contains(len))
                    .collect(),
            ),
        ),
        ("typtype", texts(same("b", n))),
        ("typisdefined", Values::Bool(same(true, n))),
        ("typdelim", texts(same(",", n))),
        ("typrelid", ints(same(0, n))),
        ("typelem", ints(same(0, n))),
        ("typarray", ints(same(0, n))),
        ("typbasetype", ints(same(0, n))),
        ("typtypmod", ints(same(-1, n))),
        ("typnotnull", Values::Bool(same(false, n))),
        ("typcollation", ints(same(0, n))),
        ("typndims", ints(same(0, n))),
        ("typdefault", no_texts(n)),
    ])
}

fn pg_database() -> RecordBatch {
    batch(vec![
        ("oid", ints([DATABASE_OID])),
        ("datname", texts([DATABASE])),
        ("datdba", ints([OWNER_OID])),
        // 6 is UTF8.
        ("encoding", ints([6])),
        ("datlocprovider", texts(["c"])),
        ("datistemplate", Values::Bool(vec![false])),
        ("datallowconn", Values::Bool(vec![true])),
        ("datconnlimit", ints([-1])),
        ("datcollate", texts(["C"])),
        ("datctype", texts(["C"])),
        ("daticulocale", no_texts(1)),
        ("datacl", Values::NullLists(DataType::Utf8View, 1)),
        ("dattablespace", ints([DEFAULT_TABLESPACE_OID])),
    ])
}

fn pg_tablespace() -> RecordBatch {
    batch(vec![
        (
            "oid",
            ints([DEFAULT_TABLESPACE_OID, DEFAULT_TABLESPACE_OID + 1]),
        ),
        ("spcname", texts(["pg_default", "pg_global"])),
        ("spcowner", ints(same(OWNER_OID, 2))),
        ("spcacl", Values::NullLists(DataType::Utf8View, 2)),
        ("spcoptions", Values::NullLists(DataType::Utf8View, 2)),
    ])
}

fn pg_am() -> RecordBatch {
    batch(vec![
        ("oid", ints([HEAP_OID])),
        ("amname", texts(["heap"])),
        ("amtype", texts(["t"])),
    ])
}

fn pg_roles() -> RecordBatch {
    batch(vec![
        ("oid", ints([OWNER_OID])),
        ("rolname", texts([OWNER])),
        ("rolsuper", Values::Bool(vec![true])),
        ("rolinherit", Values::Bool(vec![true])),
        ("rolcreaterole", Values::Bool(vec![true])),
        ("rolcreatedb", Values::Bool(vec![true])),
        ("rolcanlogin", Values::Bool(vec![true])),
        ("rolreplication", Values::Bool(vec![false])),
        ("rolconnlimit", ints([-1])),
        ("rolvaliduntil", no_texts(1)),
        ("rolbypassrls", Values::Bool(vec![true])),
    ])
}

fn schemata() -> RecordBatch {
    batch(vec![
        ("catalog_name", texts(same(DATABASE, 3))),
        (
            "schema_name",
            texts([PG_CATALOG, PUBLIC, INFORMATION_SCHEMA]),
        ),
        ("schema_owner", texts(same(OWNER, 3))),
    ])
}

fn information_tables(user: &[(i64, &Table)]) -> RecordBatch {
    let n = user.len();
    batch(vec![
        ("table_catalog", texts(same(DATABASE, n))),
        ("table_schema", texts(same(PUBLIC, n))),
        ("table_name", texts(user.iter().map(|(_, t)| &t.name))),
        ("table_type", texts(same("BASE TABLE", n))),
    ])
}

fn information_columns(user: &[(i64, &Table)]) -> RecordBatch {
    let columns: Vec<(&str, i64, &Field)> = user
        .iter()
        .flat_map(|(_, table)| {
            table
                .schema
                .fields()
                .iter()
                .zip(1..)
                .map(|(field, number)| (table.name.as_str(), number, field.as_ref()))
        })
        .collect();
    let n = columns.len();
    let type_names = columns.iter().map(|(_, _, field)| {
        let (oid, _) = pg_type(field.data_type());
        format_type(oid, -1).unwrap_or_else(|| "text".to_string())
    });
    let decimal = |field: &Field| match field.data_type() {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => Some((i64::from(*p), i64::from(*s))),
        _ => None,
    };
    batch(vec![
        ("table_catalog", texts(same(DATABASE, n))),
        ("table_schema", texts(same(PUBLIC, n))),
        ("table_name", texts(columns.iter().map(|(table, ..)| table))),
        (
            "column_name",
            texts(columns.iter().map(|(_, _, f)| f.name())),
        ),
        (
            "ordinal_position",
            ints(columns.iter().map(|(_, number, _)| *number)),
        ),
        ("column_default", no_texts(n)),
        (
            "is_nullable",
            texts(
                columns
                    .iter()
                    .map(|(_, _, f)| if f.is_nullable() { "YES" } else { "NO" }),
            ),
        ),
        ("data_type", texts(type_names)),
        ("character_maximum_length", nulls(n)),
        (
            "numeric_precision",
            Values::Int(
                columns
                    .iter()
                    .map(|(_, _, f)| decimal(f).map(|(p, _)| p))
                    .collect(),
            ),
        ),
        (
            "numeric_scale",
            Values::Int(
                columns
                    .iter()
                    .map(|(_, _, f)| decimal(f).map(|(_, s)| s))
                    .collect(),
            ),
        ),
        ("datetime_precision", nulls(n)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_tables_are_listed_with_their_columns_and_types() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("price", DataType::Decimal128(15, 2), true),
        ]));
        let mut tables = BTreeMap::new();
        tables.insert(
            "items".to_string(),
            Arc::new(Table::unkeyed("items", schema, vec![Vec::new(); 2])),
        );
        let system = system_tables(&tables, 2);
        let class = &system["pg_catalog.pg_class"];
        assert_eq!(class.row_count, 1);
        assert_eq!(class.partitions.len(), 2);
        let columns = &system["information_schema.columns"].partitions[0][0];
        assert_eq!(columns.num_rows(), 2);
        let printed = arrow::util::pretty::pretty_format_batches(std::slice::from_ref(columns))
            .unwrap()
            .to_string();
        assert!(
            printed.contains("| items      | price       | 2                | "),
            "{printed}"
        );
        assert!(printed.contains("numeric"), "{printed}");
        let attributes = &system["pg_catalog.pg_attribute"].partitions[1][0];
        assert_eq!(attributes.num_rows(), 2);
    }
}
