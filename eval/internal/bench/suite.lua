-- The benchmark suite in Lua (the same programs as suite.u, written as
-- Lua programmers would: tables updated in place, numeric for loops).

-- binary-trees
local function makeTree(d)
  if d == 0 then return {} end
  return { makeTree(d - 1), makeTree(d - 1) }
end

local function check(t)
  if t[1] then return 1 + check(t[1]) + check(t[2]) end
  return 1
end

function binaryTrees(n)
  local minD = 4
  local maxD = math.max(minD + 2, n)
  local stretch = check(makeTree(maxD + 1))
  local long = makeTree(maxD)
  local total = 0
  for d = minD, maxD, 2 do
    local iters = 2 ^ (maxD - d + minD)
    local s = 0
    for i = 1, iters do s = s + check(makeTree(d)) end
    total = total + s
  end
  return stretch + total + check(long)
end

-- n-body
local PI = 3.141592653589793
local SOLAR_MASS = 4.0 * PI * PI
local DAYS_PER_YEAR = 365.24

local function planet(x, y, z, vx, vy, vz, m)
  return { x = x, y = y, z = z, vx = vx * DAYS_PER_YEAR, vy = vy * DAYS_PER_YEAR, vz = vz * DAYS_PER_YEAR, mass = m * SOLAR_MASS }
end

local function planets()
  return {
    { x = 0.0, y = 0.0, z = 0.0, vx = 0.0, vy = 0.0, vz = 0.0, mass = SOLAR_MASS },
    planet(4.84143144246472090e+00, 0.0 - 1.16032004402742839e+00, 0.0 - 1.03622044471123109e-01, 1.66007664274403694e-03, 7.69901118419740425e-03, 0.0 - 6.90460016972063023e-05, 9.54791938424326609e-04),
    planet(8.34336671824457987e+00, 4.12479856412430479e+00, 0.0 - 4.03523417114321381e-01, 0.0 - 2.76742510726862411e-03, 4.99852801234917238e-03, 2.30417297573763929e-05, 2.85885980666130812e-04),
    planet(1.28943695621391310e+01, 0.0 - 1.51111514016986312e+01, 0.0 - 2.23307578892655734e-01, 2.96460137564761618e-03, 2.37847173959480950e-03, 0.0 - 2.96589568540237556e-05, 4.36624404335156298e-05),
    planet(1.53796971148509165e+01, 0.0 - 2.59193146099879641e+01, 1.79258772950371181e-01, 2.68067772490389322e-03, 1.62824170038242295e-03, 0.0 - 9.51592254519715870e-05, 5.15138902046611451e-05),
  }
end

local function offsetMomentum(b)
  local px, py, pz = 0.0, 0.0, 0.0
  for i = 1, #b do px = px + b[i].vx * b[i].mass end
  for i = 1, #b do py = py + b[i].vy * b[i].mass end
  for i = 1, #b do pz = pz + b[i].vz * b[i].mass end
  b[1].vx = 0.0 - px / SOLAR_MASS
  b[1].vy = 0.0 - py / SOLAR_MASS
  b[1].vz = 0.0 - pz / SOLAR_MASS
end

local sqrt = math.sqrt

local function advance(bodies, nbody, dt)
  for i = 1, nbody do
    local bi = bodies[i]
    local bix, biy, biz, bimass = bi.x, bi.y, bi.z, bi.mass
    local bivx, bivy, bivz = bi.vx, bi.vy, bi.vz
    for j = i + 1, nbody do
      local bj = bodies[j]
      local dx, dy, dz = bix - bj.x, biy - bj.y, biz - bj.z
      local d2 = dx * dx + dy * dy + dz * dz
      local mag = dt / (sqrt(d2) * d2)
      local amag = bimass * mag
      local bmag = bj.mass * mag
      bivx = bivx - dx * bmag
      bivy = bivy - dy * bmag
      bivz = bivz - dz * bmag
      bj.vx = bj.vx + dx * amag
      bj.vy = bj.vy + dy * amag
      bj.vz = bj.vz + dz * amag
    end
    bi.vx = bivx
    bi.vy = bivy
    bi.vz = bivz
  end
  for i = 1, nbody do
    local bi = bodies[i]
    bi.x = bi.x + dt * bi.vx
    bi.y = bi.y + dt * bi.vy
    bi.z = bi.z + dt * bi.vz
  end
end

local function energy(bodies, nbody)
  local e = 0.0
  for i = nbody, 1, -1 do
    local bi = bodies[i]
    local vx, vy, vz, m = bi.vx, bi.vy, bi.vz, bi.mass
    local kinetic = 0.5 * m * (vx * vx + vy * vy + vz * vz)
    local potential = 0.0
    for j = i + 1, nbody do
      local bj = bodies[j]
      local dx, dy, dz = bi.x - bj.x, bi.y - bj.y, bi.z - bj.z
      potential = potential + m * bj.mass / sqrt(dx * dx + dy * dy + dz * dz)
    end
    e = kinetic - potential + e
  end
  return e
end

local function round(x)
  if x < 0 then return -math.floor(-x + 0.5) end
  return math.floor(x + 0.5)
end

function nbody(n)
  local bodies = planets()
  offsetMomentum(bodies)
  for i = 1, n do advance(bodies, #bodies, 0.01) end
  return round(energy(bodies, #bodies) * 1.0e9)
end

-- spectral-norm
local function A(i, j)
  local ij = i + j
  return 1.0 / (ij * (ij + 1) / 2 + i + 1)
end

local function Av(x, y, n)
  for i = 0, n - 1 do
    local a = 0.0
    for j = 0, n - 1 do a = a + A(i, j) * x[j + 1] end
    y[i + 1] = a
  end
end

local function Atv(x, y, n)
  for i = 0, n - 1 do
    local a = 0.0
    for j = 0, n - 1 do a = a + A(j, i) * x[j + 1] end
    y[i + 1] = a
  end
end

local function AtAv(x, y, t, n)
  Av(x, t, n)
  Atv(t, y, n)
end

function spectralNorm(n)
  local u, v, t = {}, {}, {}
  for i = 1, n do u[i] = 1.0 end
  for i = 1, 10 do
    AtAv(u, v, t, n)
    AtAv(v, u, t, n)
  end
  local vBv, vv = 0.0, 0.0
  for i = 1, n do
    vBv = vBv + u[i] * v[i]
  end
  for i = 1, n do
    vv = vv + v[i] * v[i]
  end
  return round(sqrt(vBv / vv) * 1.0e9)
end

-- fannkuch-redux (the reference program's permutation order)
function fannkuch(n)
  local perm1, count, perm = {}, {}, {}
  for i = 1, n do perm1[i] = i end
  local r = n
  local permCount, checksum, maxFlips = 0, 0, 0
  while true do
    while r ~= 1 do count[r - 1] = r; r = r - 1 end
    for i = 1, n do perm[i] = perm1[i] end
    local flips = 0
    local k = perm[1]
    while k ~= 1 do
      local i, j = 1, k
      while i < j do
        perm[i], perm[j] = perm[j], perm[i]
        i = i + 1
        j = j - 1
      end
      flips = flips + 1
      k = perm[1]
    end
    if flips > maxFlips then maxFlips = flips end
    if permCount % 2 == 0 then checksum = checksum + flips else checksum = checksum - flips end
    while true do
      if r == n then return checksum * 1000 + maxFlips end
      local perm0 = perm1[1]
      for i = 1, r do perm1[i] = perm1[i + 1] end
      perm1[r + 1] = perm0
      count[r] = count[r] - 1
      if count[r] > 0 then break end
      r = r + 1
    end
    permCount = permCount + 1
  end
end

-- word frequency
function wordFreq(text)
  local counts = {}
  local distinct = 0
  for w in string.gmatch(text, "%S+") do
    local c = counts[w]
    if c == nil then
      distinct = distinct + 1
      counts[w] = 1
    else
      counts[w] = c + 1
    end
  end
  local best = 0
  for _, c in pairs(counts) do
    if c > best then best = c end
  end
  return distinct * 1000000 + best
end

-- Map inserts
function mapInserts(n)
  local d = {}
  local c = 0
  for i = 0, n - 1 do
    local k = i * 7919 % 1000003
    if d[k] == nil then c = c + 1 end
    d[k] = i
  end
  return c
end

function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end
