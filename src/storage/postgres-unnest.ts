// Many rows in one PostgreSQL statement, one array parameter per column:
// `unnest($1::text[], $2::bigint[], ...) [with ordinality] as u(c1, c2, ..., [ord])`.
import { type AliasedRawBuilder, type RawBuilder, sql } from "kysely";

/** The element types the writers send as arrays, and what a row of them holds. */
interface ArrayTypes {
  text: string;
  bigint: number;
  bytea: Uint8Array;
  boolean: boolean;
}

/** An element type name. */
export type ArrayType = keyof ArrayTypes;

/**
 * Element types by column of `Table`: declare with `satisfies ColumnTypes<Table>`, so a
 * column the table lacks fails tsc.
 */
export type ColumnTypes<Table> = { readonly [K in keyof Table]?: ArrayType };

/** One array per column of `T` (the statement's arguments). */
export type ColumnArrays<T> = { readonly [K in keyof T]: readonly unknown[] };

/** The columns of `types`, in declaration order. */
export function columnsOf<T extends object>(types: T): (keyof T & string)[] {
  return Object.keys(types) as (keyof T & string)[];
}

const CASTS: { readonly [T in ArrayType]: RawBuilder<unknown> } = {
  text: sql`text[]`,
  bigint: sql`bigint[]`,
  bytea: sql`bytea[]`,
  boolean: sql`boolean[]`,
};

/**
 * `arrays` (placeholders) as a table named `alias` with one column per key of `types` (in
 * key order), plus an `ord` column (1, 2, ...) when `ordinality`: what an INSERT ... SELECT
 * orders by so rows are written in array order.
 */
export function unnestRows<T extends Readonly<Record<string, ArrayType>>, A extends string>(
  alias: A,
  types: T,
  arrays: ColumnArrays<T>,
  ordinality = false,
): AliasedRawBuilder<{ [K in keyof T]: ArrayTypes[T[K]] } & { ord: number }, A> {
  const columns = columnsOf(types);
  const casts = sql.join(columns.map((c) => sql`${arrays[c]}::${CASTS[types[c] as ArrayType]}`));
  const names = sql.join([...columns, ...(ordinality ? ["ord"] : [])].map((c) => sql.id(c)));
  const from = ordinality ? sql`unnest(${casts}) with ordinality` : sql`unnest(${casts})`;
  return sql<{ [K in keyof T]: ArrayTypes[T[K]] } & { ord: number }>`${from}`.as<A>(
    sql`${sql.id(alias)}(${names})`,
  );
}
