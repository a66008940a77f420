// Go's text/tabwriter alignment (flags 0, left-aligned), which Docker's table output goes through:
// tab-terminated cells form columns; a column block is a run of consecutive lines that have a cell in that
// column, and every cell in the block is padded to the block's widest cell plus `padding` (at least
// `minwidth`). The last cell of a line is not part of any column and is printed as it is.

const width = (s: string) => [...s].length;

export function tabwrite(text: string, minwidth = 10, padding = 3): string {
  const raw = text.split('\n');
  const trailingNewline = raw[raw.length - 1] === '';
  if (trailingNewline) raw.pop();
  const lines = raw.map((l) => l.split('\t'));
  const widths: number[] = [];
  const out: string[] = [];

  const writeLines = (line0: number, line1: number) => {
    for (let i = line0; i < line1; i++) {
      const cells = lines[i]!;
      let s = '';
      cells.forEach((c, j) => {
        s += c;
        if (j < widths.length) s += ' '.repeat(Math.max(0, widths[j]! - width(c)));
      });
      out.push(s);
    }
  };

  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    for (let i = line0; i < line1; i++) {
      if (column >= lines[i]!.length - 1) continue;
      // a column block starts here: print the lines before it, then size it
      writeLines(line0, i);
      line0 = i;
      let w = minwidth;
      for (; i < line1; i++) {
        const cells = lines[i]!;
        if (column >= cells.length - 1) break;
        w = Math.max(w, width(cells[column]!) + padding);
      }
      widths.push(w);
      format(line0, i);
      widths.pop();
      line0 = i; // line i has no cell in this column: the loop's i++ may skip it
    }
    writeLines(line0, line1);
  };
  format(0, lines.length);
  return out.join('\n') + (trailingNewline ? '\n' : '');
}
