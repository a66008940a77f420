// WireError: every way a packet or stream can be malformed, as a code the agent counts by, with a
// message that says what exactly was wrong.
export type WireErrorCode = 'TRUNCATED' | 'BAD_CRC' | 'BAD_TYPE' | 'DECRYPT' | 'TOO_DEEP' | 'BAD_VSN' | 'TOO_LARGE' | 'BAD_FIELD' | 'BAD_LABEL' | 'TOO_MANY_STREAMS' | 'OVER_BUDGET';

export class WireError extends Error {
  override readonly name = 'WireError';
  constructor(
    readonly code: WireErrorCode,
    message: string,
  ) {
    super(message);
  }
}
