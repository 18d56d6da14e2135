// Indexes the descriptor files behind a server's services once, so reflection answers lookups by
// file name, symbol or extension from maps instead of walking descriptors per request.
import {
  create,
  createFileRegistry,
  type DescFile,
  type DescService,
  type FileRegistry,
  toBinary,
} from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

/** Read-only lookups over every file reachable from a server's services. */
export interface ReflectionIndex {
  /** Full names of the listed services, sorted and without duplicates. */
  readonly serviceNames: readonly string[];
  /** The registry of all files: the services' files and their transitive imports. */
  readonly registry: FileRegistry;
  /** A file by its proto path, e.g. "google/protobuf/timestamp.proto". */
  fileByName(fileName: string): DescFile | undefined;
  /**
   * The file declaring a fully-qualified symbol: a service, method, message (nested too), field,
   * oneof, enum, enum value or extension.
   */
  fileContainingSymbol(symbol: string): DescFile | undefined;
  /** The file declaring the extension `fieldNumber` of message `containingType`. */
  fileContainingExtension(containingType: string, fieldNumber: number): DescFile | undefined;
  /** Field numbers of all known extensions of a message, or undefined for an unknown message. */
  extensionNumbersOf(messageType: string): readonly number[] | undefined;
  /** The file's FileDescriptorProto in binary form, encoded once and cached. */
  encode(file: DescFile): Uint8Array;
}

/**
 * Builds the index from the services a server registers. Their files' imports are followed, so
 * well-known types and options files (google/protobuf/descriptor.proto) are included.
 */
export function createReflectionIndex(services: readonly DescService[]): ReflectionIndex {
  const registry = createFileRegistry(
    create(FileDescriptorSetSchema, { file: importsFirst(services).map((f) => f.proto) }),
  );
  const symbols = new Map<string, DescFile>();
  const extensionNumbers = new Map<string, number[]>();
  for (const file of registry.files) {
    indexSymbols(file, symbols, extensionNumbers);
  }
  const encoded = new Map<string, Uint8Array>();
  const serviceNames = [...new Set(services.map((s) => s.typeName))].sort();

  return {
    serviceNames,
    registry,
    fileByName: (fileName) => registry.getFile(fileName),
    fileContainingSymbol: (symbol) => symbols.get(symbol),
    fileContainingExtension(containingType, fieldNumber) {
      const extendee = registry.getMessage(containingType);
      return extendee && registry.getExtensionFor(extendee, fieldNumber)?.file;
    },
    extensionNumbersOf(messageType) {
      if (registry.getMessage(messageType) === undefined) return undefined;
      return extensionNumbers.get(messageType) ?? [];
    },
    encode(file) {
      let bytes = encoded.get(file.proto.name);
      if (bytes === undefined) {
        bytes = toBinary(FileDescriptorProtoSchema, file.proto);
        encoded.set(file.proto.name, bytes);
      }
      return bytes;
    },
  };
}

// createFileRegistry resolves a FileDescriptorSet's imports against files added before, so each
// file must come after everything it imports.
function importsFirst(services: readonly DescService[]): DescFile[] {
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile): void => {
    if (seen.has(file.proto.name)) return;
    seen.add(file.proto.name);
    for (const dep of file.dependencies) visit(dep);
    ordered.push(file);
  };
  for (const service of services) visit(service.file);
  return ordered;
}

// Members of a type (fields, methods, values) are not types, so the registry cannot find them;
// reflection clients still ask for them by full name.
function indexSymbols(
  file: DescFile,
  symbols: Map<string, DescFile>,
  extensionNumbers: Map<string, number[]>,
): void {
  for (const type of nestedTypes(file)) {
    symbols.set(type.typeName, file);
    switch (type.kind) {
      case "message":
        for (const field of type.fields) symbols.set(`${type.typeName}.${field.name}`, file);
        for (const oneof of type.oneofs) symbols.set(`${type.typeName}.${oneof.name}`, file);
        break;
      case "enum": {
        // Enum values are scoped as siblings of their enum, per protobuf's C++ scoping rule.
        const scope = type.typeName.slice(0, type.typeName.length - type.name.length);
        for (const value of type.values) symbols.set(`${scope}${value.name}`, file);
        break;
      }
      case "service":
        for (const method of type.methods) symbols.set(`${type.typeName}.${method.name}`, file);
        break;
      case "extension": {
        const numbers = extensionNumbers.get(type.extendee.typeName) ?? [];
        numbers.push(type.number);
        extensionNumbers.set(type.extendee.typeName, numbers);
        break;
      }
    }
  }
}
