// The swarm's errors as the API answers them: a message (Docker's where Docker has one) and the HTTP
// status that goes with it.

export class SwarmError extends Error {
  override readonly name = 'SwarmError';
  constructor(
    message: string,
    /** HTTP status the API answers with. */
    readonly status = 400,
  ) {
    super(message);
  }
}

export const NOT_IN_SWARM = 'This node is not part of a swarm';
/** The same, with what to do, for commands that need a swarm. */
export const NOT_IN_SWARM_HELP = `${NOT_IN_SWARM}. Use "shoal swarm init" or "shoal swarm join" to connect this node to swarm and try again.`;
export const ALREADY_IN_SWARM = 'This node is already part of a swarm. Use "shoal swarm leave" to leave this swarm and join another one.';
export const NOT_A_MANAGER = "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";
