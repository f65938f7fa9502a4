// The signed-in user, read from the auth library the site already uses: user id and email
// only, never a token. Shapes (each library's own storage, as it writes it):
// - Clerk: `window.Clerk.user` {id, primaryEmailAddress: {emailAddress}}
// - Auth0 SPA SDK (cacheLocation 'localstorage'): `@@auth0spajs@@::<client>::<audience>::<scope>`
//   {body: {decodedToken: {user: {sub, email}}}}, and `@@auth0spajs@@::<client>::@@user@@`
//   {id_token, decodedToken: {user}}
// - Supabase: `sb-<project ref>-auth-token` {access_token, …, user: {id, email}}
// - Firebase Auth: IndexedDB `firebaseLocalStorageDb`, store `firebaseLocalStorage`,
//   {fbase_key: 'firebase:authUser:<apiKey>:<app>', value: {uid, email, …}} (or that key in
//   localStorage under local persistence).

import { keys, load } from './store.js'

const AUTH = /^(@@auth0spajs@@::|sb-.+-auth-token$|firebase:authUser:)/

/** {uid, email} from one library's user object, or nothing. */
const user = (u) => {
  const id = u?.sub || u?.uid || u?.id
  return id && { uid: String(id), email: u.email || u.primaryEmailAddress?.emailAddress }
}

/** Clerk, Auth0, Supabase or Firebase in localStorage (synchronous). */
export function stored(w) {
  let u = user(w.Clerk?.user)
  for (const k of keys('localStorage')) {
    const v = !u && AUTH.test(k) && load('localStorage', k)
    if (v) u = user(v.body?.decodedToken?.user || v.decodedToken?.user || v.user || v.currentSession?.user || v)
  }
  return u
}

/** Firebase Auth in IndexedDB. The database is opened only if it exists (`databases()`):
 * opening a missing one would create it on the site's origin. */
export async function indexed(w) {
  const db = w.indexedDB
  if (!(await db?.databases?.())?.some((d) => d.name == 'firebaseLocalStorageDb')) return
  return new Promise((res) => {
    const rq = db.open('firebaseLocalStorageDb')
    rq.onerror = res
    rq.onsuccess = () => {
      const c = rq.result
      try {
        const all = c.transaction('firebaseLocalStorage').objectStore('firebaseLocalStorage').getAll()
        all.onsuccess = () => res(user(all.result.find((e) => AUTH.test(e?.fbase_key))?.value))
        all.onerror = res
      } catch {
        res()
      }
      c.close()
    }
  })
}

/** The first user any of the four libraries knows, or nothing. */
export async function detect(w) {
  return stored(w) || (await indexed(w))
}
