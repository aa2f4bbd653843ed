/** Lua shared by the scripts of this folder. */

// A missing field is false in Redis's Lua and a foreign object in ioredis-mock's: keep strings only.
export const STR = "local function str(v) if type(v) == 'string' then return v end return nil end";
