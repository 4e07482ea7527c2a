// Reads a zip's directory from a File/Blob by slicing it; the file is never loaded whole.
// openZip: the weights zip, every entry STORED (the weights format's rule), so an entry's bytes are a plain slice.
// readZipEntries: any zip a learner made of a folder (STORED or DEFLATE), each entry inflated as a stream.
// Zip64 is understood (a 1.4 GB GPT-2 medium zip may be written with zip64 records).

const EOCD_SIGNATURE = 0x06054b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const LOCAL_SIGNATURE = 0x04034b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const CENTRAL_HEADER_SIZE = 46;
const LOCAL_HEADER_SIZE = 30;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
const FLAG_ENCRYPTED = 0x1;
const HOW_TO_PACK = "python -m weights_pack convert <checkpoint> -o model.zip";

export class ZipFormatError extends Error {
  constructor(message) {
    super(message);
    this.name = "ZipFormatError";
  }
}

const METHOD_NAMES = { 8: "deflate", 9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstd", 95: "xz" };

async function readBytes(blob, start, end) {
  return new DataView(await blob.slice(start, end).arrayBuffer());
}

function u64(view, offset) {
  const value = view.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipFormatError("zip64 value too large");
  return Number(value);
}

async function startsLikeZip(blob) {
  if (blob.size < 4) return false;
  return (await readBytes(blob, 0, 4)).getUint32(0, true) === LOCAL_SIGNATURE;
}

async function findEndOfCentralDirectory(blob) {
  const tailStart = Math.max(0, blob.size - EOCD_SIZE - MAX_COMMENT);
  const tail = await readBytes(blob, tailStart, blob.size);
  for (let i = tail.byteLength - EOCD_SIZE; i >= 0; i--) {
    if (tail.getUint32(i, true) !== EOCD_SIGNATURE) continue;
    // A real record's comment length reaches exactly to the end of the file.
    if (i + EOCD_SIZE + tail.getUint16(i + 20, true) !== tail.byteLength) continue;
    return { offset: tailStart + i, view: new DataView(tail.buffer, i, EOCD_SIZE) };
  }
  return null;
}

async function centralDirectoryBounds(blob, eocd) {
  const view = eocd.view;
  let count = view.getUint16(10, true);
  let size = view.getUint32(12, true);
  let offset = view.getUint32(16, true);
  if (count === 0xffff || size === 0xffffffff || offset === 0xffffffff) {
    const locatorAt = eocd.offset - 20;
    const locator = locatorAt >= 0 ? await readBytes(blob, locatorAt, eocd.offset) : null;
    if (!locator || locator.getUint32(0, true) !== ZIP64_LOCATOR_SIGNATURE) {
      throw new ZipFormatError("the zip64 end-of-central-directory locator is missing");
    }
    const zip64At = u64(locator, 8);
    const record = await readBytes(blob, zip64At, zip64At + 56);
    if (record.byteLength < 56 || record.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) {
      throw new ZipFormatError("the zip64 end-of-central-directory record is damaged");
    }
    count = u64(record, 32);
    size = u64(record, 40);
    offset = u64(record, 48);
  }
  return { count, size, offset };
}

function zip64Extra(view, extraStart, extraLength, wanted) {
  // wanted: which of [size, compressedSize, localOffset] were 0xffffffff in the fixed header, in order.
  let at = extraStart;
  while (at + 4 <= extraStart + extraLength) {
    const id = view.getUint16(at, true);
    const length = view.getUint16(at + 2, true);
    if (id === 0x0001) {
      const values = [];
      let field = at + 4;
      for (const need of wanted) {
        if (!need) { values.push(null); continue; }
        values.push(u64(view, field));
        field += 8;
      }
      return values;
    }
    at += 4 + length;
  }
  throw new ZipFormatError("a zip64 entry lacks its zip64 extra field");
}

function parseCentralDirectory(view, count) {
  const decoder = new TextDecoder("utf-8", { fatal: false });
  const entries = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + CENTRAL_HEADER_SIZE > view.byteLength || view.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      throw new ZipFormatError(`central directory entry ${i} is damaged`);
    }
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localOffset = view.getUint32(at + 42, true);
    const nameStart = at + CENTRAL_HEADER_SIZE;
    if (nameStart + nameLength + extraLength + commentLength > view.byteLength) {
      throw new ZipFormatError(`central directory entry ${i} runs past the directory`);
    }
    const name = decoder.decode(new Uint8Array(view.buffer, view.byteOffset + nameStart, nameLength));
    const wanted = [size === 0xffffffff, compressedSize === 0xffffffff, localOffset === 0xffffffff];
    if (wanted.some(Boolean)) {
      const [big, bigCompressed, bigOffset] = zip64Extra(view, nameStart + nameLength, extraLength, wanted);
      size = big ?? size;
      compressedSize = bigCompressed ?? compressedSize;
      localOffset = bigOffset ?? localOffset;
    }
    entries.push({ name, flags, method, compressedSize, size, localOffset });
    at = nameStart + nameLength + extraLength + commentLength;
  }
  return entries;
}

function checkStored(entry) {
  if (entry.flags & FLAG_ENCRYPTED) {
    throw new ZipFormatError(`zip entry "${entry.name}" is encrypted; the weights zip must not be. ` +
      `Make a valid zip with: ${HOW_TO_PACK}`);
  }
  if (entry.method !== METHOD_STORED) {
    const how = METHOD_NAMES[entry.method] ?? `method ${entry.method}`;
    throw new ZipFormatError(
      `zip entry "${entry.name}" is compressed (${how}). GPT-2 Cells reads tensors straight from the file, ` +
      `so every entry must be STORED (uncompressed). Make a valid zip with: ${HOW_TO_PACK} ` +
      `(or re-zip without compression, e.g. zip -0).`);
  }
  if (entry.compressedSize !== entry.size) {
    throw new ZipFormatError(`zip entry "${entry.name}" is STORED but its sizes disagree ` +
      `(${entry.compressedSize} stored vs ${entry.size} bytes)`);
  }
}

async function locateData(blob, entry, length = entry.size) {
  const fileSize = blob.size;
  if (entry.localOffset + LOCAL_HEADER_SIZE > fileSize) {
    throw new ZipFormatError(`zip entry "${entry.name}" starts beyond the end of the file: the file is truncated`);
  }
  const header = await readBytes(blob, entry.localOffset, entry.localOffset + LOCAL_HEADER_SIZE);
  if (header.getUint32(0, true) !== LOCAL_SIGNATURE) {
    throw new ZipFormatError(`zip entry "${entry.name}": no local header at offset ${entry.localOffset}`);
  }
  const dataOffset = entry.localOffset + LOCAL_HEADER_SIZE + header.getUint16(26, true) + header.getUint16(28, true);
  if (dataOffset + length > fileSize) {
    throw new ZipFormatError(`zip entry "${entry.name}" needs bytes ${dataOffset}–${dataOffset + length} ` +
      `but the file has only ${fileSize}: the file is truncated`);
  }
  return dataOffset;
}

/**
 * Open a zip held in a Blob/File. Returns {entries: Map<name, entry>, blob}; each entry has name, size,
 * dataOffset, and `slice()` giving its bytes as a Blob. Only the directory and local headers are read.
 * Throws ZipFormatError with a message meant for the learner.
 */
export async function openZip(blob) {
  const parsed = await readCentralDirectory(blob);
  parsed.forEach(checkStored);
  const offsets = await Promise.all(parsed.map((entry) => locateData(blob, entry)));
  const entries = new Map();
  parsed.forEach((entry, i) => {
    const dataOffset = offsets[i];
    entries.set(entry.name, {
      name: entry.name,
      size: entry.size,
      dataOffset,
      slice: () => blob.slice(dataOffset, dataOffset + entry.size),
    });
  });
  return { blob, entries };
}

async function readCentralDirectory(blob) {
  const eocd = blob.size >= EOCD_SIZE ? await findEndOfCentralDirectory(blob) : null;
  if (!eocd) {
    if (await startsLikeZip(blob)) {
      throw new ZipFormatError("this file starts like a zip but its end (the central directory) is missing: " +
        "the file is truncated — was the download or copy interrupted?");
    }
    throw new ZipFormatError("this is not a zip file. Drop the weights zip made by " +
      `weights_pack (${HOW_TO_PACK}).`);
  }
  const { count, size, offset } = await centralDirectoryBounds(blob, eocd);
  if (offset + size > blob.size) {
    throw new ZipFormatError("the zip's central directory points past the end of the file: the file is truncated");
  }
  const directory = await readBytes(blob, offset, offset + size);
  return parseCentralDirectory(directory, count);
}

function checkReadable(entry) {
  if (entry.flags & FLAG_ENCRYPTED) {
    throw new ZipFormatError(`zip entry "${entry.name}" is encrypted; zip the folder without a password`);
  }
  if (entry.method !== METHOD_STORED && entry.method !== METHOD_DEFLATE) {
    const how = METHOD_NAMES[entry.method] ?? `method ${entry.method}`;
    throw new ZipFormatError(`zip entry "${entry.name}" is compressed with ${how}, which the page cannot unpack; ` +
      "zip the folder again with ordinary (deflate) compression or none");
  }
}

/** An entry's bytes as a Blob: a slice when STORED, else inflated through a stream into a Blob. */
async function entryBlob(blob, entry) {
  checkReadable(entry);
  const dataOffset = await locateData(blob, entry, entry.compressedSize);
  const raw = blob.slice(dataOffset, dataOffset + entry.compressedSize);
  if (entry.method === METHOD_STORED) {
    if (entry.compressedSize !== entry.size) {
      throw new ZipFormatError(`zip entry "${entry.name}" is STORED but its sizes disagree ` +
        `(${entry.compressedSize} stored vs ${entry.size} bytes)`);
    }
    return raw;
  }
  let inflated;
  try {  // Response.blob() drains the stream into a Blob Chromium may keep on disk: no whole ArrayBuffer
    inflated = await new Response(raw.stream().pipeThrough(new DecompressionStream("deflate-raw"))).blob();
  } catch (error) {
    throw new ZipFormatError(`zip entry "${entry.name}" cannot be inflated (${error.message}): the zip is damaged`);
  }
  if (inflated.size !== entry.size) {
    throw new ZipFormatError(`zip entry "${entry.name}" inflated to ${inflated.size} bytes, ` +
      `but the zip says ${entry.size}: the zip is damaged`);
  }
  return inflated;
}

/**
 * Every file entry of any zip (folders skipped), from the directory only: [{name, size, blob()}].
 * `blob()` unpacks that one entry when called (STORED or DEFLATE), so a caller can skip entries it does not
 * need. Throws ZipFormatError: here if the file is not a zip or is truncated; from blob() if the entry is
 * encrypted, compressed another way, or damaged.
 */
export async function readZipEntries(blob) {
  const parsed = (await readCentralDirectory(blob)).filter((entry) => !entry.name.endsWith("/"));
  return parsed.map((entry) => ({ name: entry.name, size: entry.size, blob: () => entryBlob(blob, entry) }));
}

export const HOW_TO_MAKE_A_VALID_ZIP = HOW_TO_PACK;
